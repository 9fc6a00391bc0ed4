"""Names that say what they resolve (issue 27 item 6): ``resolve_model`` meant three things in three modules."""
import pytest

from drama_models import model_source, zoo
from drama_models.model_source import ModelSourceError, resolve_model_source


def test_each_resolver_is_named_for_what_it_resolves_and_the_old_names_stay():
    assert model_source.resolve_model is resolve_model_source  # a --model value -> a loadable folder or Hub id
    assert zoo.resolve_model is zoo.resolve_zoo_name  # a zoo or short name -> a local copy, package folder or id
    assert zoo.resolve_zoo_name("some/other-model") == "some/other-model"


def test_a_missing_model_folder_names_the_option(tmp_path):
    with pytest.raises(ModelSourceError, match=r"^--teacher .*no"):
        resolve_model_source(str(tmp_path / "missing") + "/", "--teacher")


def test_embedded_short_names_resolve_as_recipes_resolve_them(monkeypatch, tmp_path):
    """``--model minilm`` / ``embedded:gemma-3-270m`` on a drama-models command: the names recipes accept."""
    import drama_data.embedded
    from drama_models.model_source import resolve_model_source

    minilm = resolve_model_source("minilm", hub_check=False)
    assert minilm == resolve_model_source("embedded:all-minilm-l6-v2", hub_check=False)
    assert minilm == resolve_model_source("all-MiniLM-L6-v2", hub_check=False)
    folder = tmp_path / "gemma"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer.json").write_text("{}")
    monkeypatch.setattr(drama_data.embedded, "prepare_embedded_model", lambda echo=None: folder)
    assert resolve_model_source("embedded:gemma-3-270m") == str(folder)
    assert resolve_model_source("gemma") == str(folder)

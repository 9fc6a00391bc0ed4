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

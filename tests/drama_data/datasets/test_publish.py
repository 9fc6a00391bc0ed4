import pyarrow as pa
import pytest

from drama_data.datasets.folder import write_dataset
from drama_data.datasets.publish import files_to_upload, publish
from drama_data.errors import ConfigError, InputError


@pytest.fixture()
def folder(tmp_path):
    f = write_dataset(tmp_path / "ds", {"queries": pa.table({"a": [1]})}, default="queries", card_body="x",
                      extra_files={"provenance.json": "{}"})
    (f / ".hidden").write_text("not uploaded")
    return f


def test_dry_run_lists_exactly_the_files(folder):
    files = publish(folder, "org/name", dry_run=True)
    names = [f.path for f in files]
    assert names[0] == "README.md" and "provenance.json" in names and ".hidden" not in names
    assert any(n.startswith("data/queries/train-00000-of-00001-") for n in names)
    assert files == files_to_upload(folder)


def test_upload_goes_through_huggingface_hub(folder, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload", kw))

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    files = publish(folder, "org/name", private=True)
    assert calls[0] == ("create", "org/name", {"repo_type": "dataset", "private": True, "exist_ok": True})
    up = calls[1][1]
    assert up["repo_type"] == "dataset" and sorted(up["allow_patterns"]) == sorted(f.path for f in files)


def test_refuses_bad_repo_id_and_non_dataset_folder(tmp_path, folder):
    with pytest.raises(ConfigError, match="expected ORG/NAME"):
        publish(folder, "just-a-name", dry_run=True)
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a dataset folder"):
        publish(tmp_path / "plain", "org/name", dry_run=True)

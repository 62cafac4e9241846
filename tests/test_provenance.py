"""A run's code provenance: the commit, and everything that ran but is not in it
(local changes, files git does not track under the suite's packages, ``BNN_PLUGINS``
modules, each with its content hash), which marks the run as not from a clean commit."""
import hashlib
import os
import subprocess

from experiments.engine import runs


def _git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "HOME": str(folder),
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                        "PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def test_untracked_suite_files_and_plugins_mark_a_run_as_not_from_a_clean_commit(tmp_path,
                                                                                    monkeypatch):
    repo = tmp_path / "suite"
    (repo / "experiments" / "datasets").mkdir(parents=True)
    (repo / "experiments" / "datasets" / "cifar10.py").write_text("A = 1\n")
    (repo / "notes").mkdir()
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "start")
    clean = runs.code_state(str(repo), plugins="")
    assert clean["commit"] and clean["dirty"] is False
    assert clean["untracked"] == [] and clean["plugins"] == []

    # a file outside the suite's packages does not count; one inside does, with its hash
    (repo / "notes" / "todo.txt").write_text("later\n")
    assert runs.code_state(str(repo), plugins="")["dirty"] is False
    stripes = repo / "experiments" / "datasets" / "stripes.py"
    stripes.write_text("B = 2\n")
    state = runs.code_state(str(repo), plugins="")
    assert state["dirty"] is True
    assert state["untracked"] == [{"path": "experiments/datasets/stripes.py",
                                   "sha256": hashlib.sha256(b"B = 2\n").hexdigest()}]

    # a BNN_PLUGINS module: its path and content hash, and not clean even when committed
    stripes.unlink()
    plugin = tmp_path / "elsewhere" / "my_data.py"
    plugin.parent.mkdir()
    plugin.write_text("C = 3\n")
    monkeypatch.syspath_prepend(str(plugin.parent))
    state = runs.code_state(str(repo), plugins="my_data,not_a_module_anywhere")
    assert state["dirty"] is True and state["untracked"] == []
    assert state["plugins"] == [
        {"module": "my_data", "path": str(plugin),
         "sha256": hashlib.sha256(b"C = 3\n").hexdigest()},
        {"module": "not_a_module_anywhere", "path": None, "sha256": None}]


def test_git_commit_reads_bnn_plugins(monkeypatch, tmp_path):
    (tmp_path / "plug_probe.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BNN_PLUGINS", "plug_probe")
    runs.git_commit.cache_clear()
    try:
        state = runs.git_commit()
    finally:
        runs.git_commit.cache_clear()
    assert [p["module"] for p in state["plugins"]] == ["plug_probe"] and state["dirty"]

"""Which first words mean ``run``, and shell completion, through the real ``necroflow`` script.

Completion is asked the way the shells ask it: the console script runs with Typer's
environment variables (``_NECROFLOW_COMPLETE=complete_bash`` with ``COMP_WORDS`` and
``COMP_CWORD``; ``complete_zsh``/``complete_fish`` with ``_TYPER_COMPLETE_ARGS``), and once
through a real bash that sources the script ``necroflow --show-completion bash`` prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import DATA, REPO, command, environment, many, necroflow, ok


def complete(words: str, cwd: Path, shell: str = "bash") -> list[str]:
    """What the console script answers for the command line ``words`` (the last word incomplete)."""
    env = environment(_NECROFLOW_COMPLETE=f"complete_{shell}")
    if shell == "bash":
        parts = words.split(" ")
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1))
    else:
        env.update(_TYPER_COMPLETE_ARGS=words, _TYPER_COMPLETE_FISH_ACTION="get-args")
    r = subprocess.run(command(), cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return [line for line in r.stdout.splitlines() if line]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder with job files, other files, a subfolder and a hidden file."""
    (tmp_path / "exp1.toml").write_text("")
    (tmp_path / "exp2.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "factory.py").write_text("")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "grid.toml").write_text("")
    (tmp_path / "jobs" / "readme.md").write_text("")
    (tmp_path / ".hidden.toml").write_text("")
    return tmp_path


def test_a_mistyped_command_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    typo, other, unknown = many([(["stauts", "job.toml"], {}), (["valdate"], {}), (["frobnicate"], {})],
                                cwd=tmp_path)
    for r in (typo, other, unknown):
        assert r.code == 2 and "Traceback" not in r.text and r.out == "", str(r)
        assert r.err.startswith("necroflow: error: no such command"), str(r)
    assert "'stauts'" in typo.err and "did you mean 'status'?" in typo.err, str(typo)
    assert "did you mean 'validate'?" in other.err, str(other)
    assert "the commands are clean, graph, gui, report, run, schema, status, validate" in unknown.err, str(unknown)


def test_options_and_job_files_first_still_mean_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "stauts").write_text(f'".pipeline" = "{DATA}/flow.py:basic"\nword = "x"\n')  # a file named like a typo
    by_option, by_file, missing, typo_file = many([
        (["--outdir", out / "a", "-q", "good/other.toml"], {}),
        (["good/other.toml", "--outdir", out / "b", "-q"], {}),
        (["--outdir", out / "c", "absent.toml"], {}),
        ([tmp_path / "stauts", "--outdir", out / "d", "-q"], {}),
    ])
    ok(by_option)
    assert (out / "a" / "other" / "manifest.toml").exists()
    ok(by_file)
    assert (out / "b" / "other" / "manifest.toml").exists()
    assert missing.code == 2 and "absent.toml: file not found" in missing.err, str(missing)
    ok(typo_file)  # an existing file is a job file, whatever its name
    assert (out / "d" / "stauts" / "manifest.toml").exists()


def test_subcommands_and_options_complete(tmp_path: Path) -> None:
    assert complete("necroflow st", tmp_path) == ["status"]
    assert set(complete("necroflow ", tmp_path)) == {"run", "validate", "schema", "status", "graph", "report", "gui",
                                                      "clean"}
    assert complete("necroflow run --ou", tmp_path) == ["--outdir"]
    assert {"--keep-going", "--dry-run", "--quiet", "-c"} <= set(complete("necroflow run -", tmp_path))
    assert complete("necroflow status --li", tmp_path) == ["--limit"]
    assert {"--show-completion", "--install-completion", "--help"} <= set(complete("necroflow -", tmp_path))


def test_job_files_complete_to_toml_files_and_folders(tree: Path) -> None:
    assert complete("necroflow validate ", tree) == ["exp1.toml", "exp2.toml", "jobs/"]
    assert complete("necroflow run --outdir out ex", tree) == ["exp1.toml", "exp2.toml"]
    assert complete("necroflow status exp1.toml j", tree) == ["jobs/"]
    assert complete("necroflow graph jobs/", tree) == ["jobs/grid.toml"]
    assert complete("necroflow clean --orphans --outdir out jobs/g", tree) == ["jobs/grid.toml"]
    assert complete("necroflow report --outdir out e", tree) == ["exp1.toml", "exp2.toml"]
    assert complete("necroflow validate .h", tree) == [".hidden.toml"]
    assert complete(f"necroflow validate {tree}/jobs/", tree) == [f"{tree}/jobs/grid.toml"]
    assert complete("necroflow validate nowhere/", tree) == []  # the shell falls back to its own


def test_zsh_and_fish_get_the_same_completions(tree: Path) -> None:
    assert complete("necroflow validate ", tree, "fish") == ["exp1.toml", "exp2.toml", "jobs/"]
    zsh = "\n".join(complete("necroflow validate j", tree, "zsh"))
    assert zsh.startswith("_arguments") and '"jobs/"' in zsh and "notes" not in zsh
    assert complete("necroflow sta", tree, "fish")[0].startswith("status\t")


def test_a_real_bash_completes_with_the_shown_script(tree: Path) -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on this machine")
    bindir = Path(command()[0]).parent if len(command()) == 1 else Path(sys.executable).parent
    script = (
        'source <(necroflow --show-completion bash)\n'
        'for line in "necroflow sta" "necroflow validate jobs/" "necroflow run --outdir o e"; do\n'
        '  read -ra COMP_WORDS <<< "$line"; [[ $line == *" " ]] && COMP_WORDS+=("")\n'
        '  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()\n'
        '  _necroflow_completion necroflow; echo "${COMPREPLY[*]}"\n'
        'done\n'
    )
    env = environment(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    r = subprocess.run([bash, "--norc", "--noprofile", "-c", script], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["status", "jobs/grid.toml", "exp1.toml exp2.toml"], r.stdout + r.stderr


def test_show_and_install_completion_are_not_runs(tmp_path: Path) -> None:
    bash, zsh, fish, installed = many([
        (["--show-completion", "bash"], {}), (["--show-completion", "zsh"], {}),
        (["--show-completion", "fish"], {}), (["--install-completion", "bash"], {"HOME": str(tmp_path)}),
    ], cwd=REPO)
    assert "complete -o default -F _necroflow_completion necroflow" in ok(bash).out
    assert "_NECROFLOW_COMPLETE=complete_bash" in bash.out
    assert ok(zsh).out.startswith("#compdef necroflow") and "complete_zsh" in zsh.out
    assert "complete --command necroflow" in ok(fish).out and "complete_fish" in fish.out
    ok(installed)
    assert "bash completion installed in" in installed.out
    assert "source" in (tmp_path / ".bashrc").read_text()
    assert "_necroflow_completion" in (tmp_path / ".bash_completions" / "necroflow.sh").read_text()
    top = ok(necroflow("--help"))
    assert "--show-completion" in top.out and "--install-completion" in top.out

"""Every user mistake: one clear line on stderr, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import run_cli

TINY = ("--dataset", "synthetic", "--opt", "dataset.n_images=40", "--epochs", "1", "-q")


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.code == 2, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_backbone_suggests(capsys, tmp_path: Path) -> None:
    result = run_cli(capsys, "run", "--backbone", "vgg61", "--out", str(tmp_path))
    _assert_one_line_error(result, "Unknown backbone 'vgg61'", "Did you mean vgg16?", "timm:*")


def test_unknown_clusterer_and_dataset(capsys, tmp_path: Path) -> None:
    _assert_one_line_error(
        run_cli(capsys, "run", "--clusterer", "kmean", "--out", str(tmp_path)),
        "Did you mean kmeans?",
    )
    _assert_one_line_error(
        run_cli(capsys, "run", "--dataset", "digit", "--out", str(tmp_path)),
        "Did you mean digits?",
    )


def test_k_larger_than_data_set(capsys, tmp_path: Path) -> None:
    result = run_cli(capsys, "run", *TINY, "--k", "500", "--out", str(tmp_path))
    _assert_one_line_error(result, "--k 500", "(40)")


def test_bad_k_value(capsys, tmp_path: Path) -> None:
    _assert_one_line_error(run_cli(capsys, "run", "--k", "ten"), "--k expects int")
    _assert_one_line_error(run_cli(capsys, "run", *TINY, "--k", "0"), "k")


def test_missing_data_path(capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run_cli(capsys, "run", "--dataset", "imagefolder", "--data", str(missing))
    _assert_one_line_error(result, "does not exist")


def test_data_path_without_images(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty" / "class_a").mkdir(parents=True)
    result = run_cli(capsys, "run", "--dataset", "imagefolder", "--data", str(tmp_path / "empty"))
    assert result.code == 2 and "error:" in result.err and "Traceback" not in result.err


def test_image_size_a_backbone_cannot_take(capsys, tmp_path: Path) -> None:
    result = run_cli(
        capsys,
        "run",
        *TINY,
        "--backbone",
        "alexnet",
        "--image-size",
        "32",
        "--k",
        "4",
        "--out",
        str(tmp_path),
    )
    _assert_one_line_error(result, "alexnet", "32")


def test_unknown_option_key(capsys, tmp_path: Path) -> None:
    _assert_one_line_error(run_cli(capsys, "run", "--opt", "nonsense"), "--opt expects")


def test_debug_shows_traceback(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DCBENCH_DEBUG", raising=False)
    result = run_cli(capsys, "--debug", "run", "--backbone", "vgg61")
    assert result.code == 2 and "Traceback" in result.err


def test_compare_on_missing_folder(capsys, tmp_path: Path) -> None:
    _assert_one_line_error(run_cli(capsys, "compare", str(tmp_path / "none")), "does not exist")


def test_command_line_mistakes_are_one_line_exit_two(capsys) -> None:
    for args in (("run", "--nonsense"), ("bogus",), ("run", "--k"), ("compare", "-z")):
        result = run_cli(capsys, *args)
        _assert_one_line_error(result)
        assert "--help" in result.err


def test_bare_command_shows_help(capsys) -> None:
    result = run_cli(capsys)
    assert result.code == 0 and "Usage: dcbench" in result.out + result.err


def test_nested_option_for_a_single_component_is_rejected(capsys) -> None:
    result = run_cli(capsys, "run", *TINY, "--k", "4", "--opt", "backbone.width.x=8")
    _assert_one_line_error(result, "backbone options are addressed as backbone.KEY")

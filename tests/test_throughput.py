"""bench/throughput.py end to end on the CPU: every setting timed, relative step costs and the JSON record."""
import json

import pytest
import torch

from bench_support import load_bench
from lib.records import cpu_name


def _script():
    return load_bench("throughput")


def test_throughput_bench_prints_and_writes_the_low_resolution_step_cost(tmp_path, capsys):
    out = tmp_path / "nested" / "t.json"
    result = _script().main(["--device", "cpu", "--widths", "4,8", "--resolutions", "16,32", "--batch_size", "8",
                             "--steps", "2", "--warmup", "1", "--loader_workers", "0", "--peak_tflops", "1",
                             "--json", str(out)])
    rows = {(r["width"], r["resolution"]): r for r in result["rows"]}
    assert set(rows) == {(4, 16), (4, 32), (8, 16), (8, 32)}
    for (w, r), row in rows.items():
        assert row["images_per_s"] > 0 and row["capture_s"] == 0  # no capture on the CPU
        full = rows[(w, 32)]
        assert row["cost_vs_full_resolution"] == full["images_per_s"] / row["images_per_s"]
        assert 0 < row["fraction_of_peak"] < 1
    assert result["low_res_step_cost"] == rows[(8, 16)]["cost_vs_full_resolution"] and result["step"] == "eager"
    assert json.load(open(out))["low_res_step_cost"] == result["low_res_step_cost"]
    assert result["device"] == f"CPU {cpu_name()}, {torch.get_num_threads()} threads"  # the model, not 'x86_64'
    printed = capsys.readouterr().out
    assert "at width 8, a 16 px step costs" in printed and "of a 32 px step" in printed


@pytest.mark.parametrize("flag, value", [("--widths", "8,x"), ("--resolutions", "4,16"), ("--steps", "0"),
                                         ("--batch_size", "-1"), ("--widths", ","), ("--warmup", "-1")])
def test_throughput_bench_refuses_bad_numbers_by_name(flag, value, capsys):
    with pytest.raises(SystemExit) as stop:
        _script().main(["--device", "cpu", flag, value])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: " in err and "Traceback" not in err

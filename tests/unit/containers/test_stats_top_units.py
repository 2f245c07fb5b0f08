"""Pure parts of hold top / stats and the per-root cgroup parent."""

import pytest

from hold.containers.stats import Reading, cpu_percent, render_row
from hold.containers.top import parse_ps
from hold.errors import InvalidArgument
from hold.runtime.cgroups import parent_for_root

PS = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root         412     400  0 10:01 ?        00:00:00 sh -c sleep 300 && echo done
root         413     412  0 10:01 ?        00:00:00 sleep 300
"""


def test_parse_ps_keeps_the_containers_rows_and_joins_the_command():
    titles, rows = parse_ps(PS, {412, 413})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [["root", "412", "400", "0", "10:01", "?", "00:00:00",
                     "sh -c sleep 300 && echo done"],
                    ["root", "413", "412", "0", "10:01", "?", "00:00:00", "sleep 300"]]


def test_parse_ps_needs_a_pid_column():
    with pytest.raises(InvalidArgument, match="Couldn't find PID field"):
        parse_ps("COMMAND\nsleep\n", {1})


def test_parent_for_root():
    assert parent_for_root("/var/lib/hold") == "hold"
    assert parent_for_root("/var/lib/hold/") == "hold"
    a, b = parent_for_root("/tmp/a"), parent_for_root("/tmp/b")
    assert a != b and a.startswith("hold-") and len(a) == len("hold-") + 16
    assert parent_for_root("/tmp/a/") == a


class _C:
    id, name, running = "ab" * 32, "web", True


def _reading(cpu, system, running=True):
    r = Reading(_C(), running)
    r.cpu_ns, r.system_ns = cpu, system
    return r


def test_cpu_percent_is_dockers_formula(monkeypatch):
    monkeypatch.setattr("hold.containers.stats.online_cpus", lambda: 4)
    # the container used a quarter of all CPU time on 4 CPUs: one CPU busy
    assert cpu_percent(_reading(0, 0), _reading(250, 1000)) == pytest.approx(100.0)
    assert cpu_percent(_reading(0, 0), _reading(0, 1000)) == 0.0
    assert cpu_percent(_reading(0, 0), _reading(10, 0)) == 0.0


def test_a_stopped_container_renders_as_zeros():
    row = render_row(None, Reading(_C(), False), "web").to_dict()
    assert row == {"Container": "web", "Name": "web", "ID": "ab" * 6, "CPUPerc": "0.00%",
                   "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
                   "BlockIO": "0B / 0B", "PIDs": "0"}

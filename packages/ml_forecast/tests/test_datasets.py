def test_the_forecast_uses_the_cores_its_container_may_use_not_the_machines(tmp_path):
    import os

    from jaffle_ml_forecast.settings import usable_cpus

    machine = len(os.sched_getaffinity(0))
    limit = tmp_path / "cpu.max"
    limit.write_text("max 100000\n")
    assert usable_cpus(limit) == machine
    limit.write_text("150000 100000\n")  # 1.5 CPUs: two processes
    assert usable_cpus(limit) == min(machine, 2)
    limit.write_text("50000 100000\n")
    assert usable_cpus(limit) == 1
    assert usable_cpus(tmp_path / "absent") == machine

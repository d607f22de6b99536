# Control-tick figures on the MicroPython VM for tools/bench.py (DESIGN section 7): run by
# tools/mpvm/runner.py, prints one line `BENCH {json}`.
#   tick_us_micropython             mean wall µs of App.tick() in the running state, on skin
#   tick_ratio_empty_loop_micropython  that / one iteration of an empty for-range loop
#   alloc_bytes_per_tick_micropython   gc.mem_alloc() growth across App.tick(), gc disabled
# Only App.tick() itself is timed and counted: the virtual clock's advance between ticks (and
# the player's timer edges it fires, measured by tools/bench_waveforms.py) is outside.
import gc
import json
import sys
import time

import machine

N_TICKS = 1000
N_EMPTY = 20000


def empty_loop_us(n):
    t0 = time.ticks_us()
    for _ in range(n):
        pass
    return time.ticks_diff(time.ticks_us(), t0) / n


def drive_to_running(root):
    """The bench's client, the same on both runtimes (tools/bench.py imports it for CPython):
    a fresh sim board, the App, long POWER, probes on skin, short POWER to start, a few seconds
    of ramp. Returns (app, vclock)."""
    from firmware.app import App
    from firmware.boards import sim as board
    from vhw import install

    vc, stage = install.make_sim_world()
    app = App(board.build(machine), root=root)
    w = machine.world
    pins = board.PINS

    def run_ms(ms):
        for _ in range(ms // 2):
            app.tick()
            vc.sleep_us(2000)

    w.press(pins["BTN_POWER"], True)
    run_ms(1500)
    w.press(pins["BTN_POWER"], False)
    run_ms(1500)
    stage.set_load(True, 20000)
    run_ms(1000)
    w.press(pins["BTN_POWER"], True)
    run_ms(100)
    w.press(pins["BTN_POWER"], False)
    run_ms(4000)
    return app, vc


def main():
    root = "/bench_fs"
    try:
        import os

        os.mkdir(root)
    except OSError:
        pass
    app, vc = drive_to_running(root)
    state = app.state
    res = {
        "state": state,
        "contact": bool(app.supervisor.contact),
    }
    if state == "running":
        total = 0
        alloc = 0
        alloc_ticks = 0
        alloc_max = 0
        import machine

        # the firmware's own work: the fakes' (the PIO interpreter, the cost model's clock
        # advances) is kept out of the measured call
        world = machine.world
        cost = world.cost
        world.cost = None
        gc.collect()
        gc.disable()
        for _ in range(N_TICKS):
            a = gc.mem_alloc()
            vc.hold_devices = True
            t0 = time.ticks_us()
            app.tick()
            total += time.ticks_diff(time.ticks_us(), t0)
            vc.hold_devices = False
            d = gc.mem_alloc() - a
            alloc += d
            if d:
                alloc_ticks += 1
                if d > alloc_max:
                    alloc_max = d
            vc.sleep_us(5000)
        gc.enable()
        world.cost = cost
        tick_us = total / N_TICKS
        empty = empty_loop_us(N_EMPTY)
        res["tick_us_micropython"] = round(tick_us, 2)
        res["empty_loop_us"] = empty
        res["tick_ratio_empty_loop_micropython"] = round(tick_us / empty, 1) if empty > 0 else None
        res["alloc_bytes_per_tick_micropython"] = round(alloc / N_TICKS, 2)
        res["ticks"] = N_TICKS
        res["alloc_ticks"] = alloc_ticks  # how many of them allocated at all
        res["alloc_max_bytes"] = alloc_max
    print("BENCH " + json.dumps(res))


if __name__ == "__main__":
    main()
    sys.exit(0)

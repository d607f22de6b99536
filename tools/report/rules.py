"""The traceability map: every numbered rule of DESIGN section 4 and the figures of section 3
-> the code that enforces it -> (tests, collected from @pytest.mark.rule("4.1") markers) ->
the latest measured value.

Section 3 has no numbers of its own; its bullets are numbered here in page order (3.1 ... 3.7).
`code` entries are "path.py:Name" or "path.py:Class.method" (checked to exist by
host_tests/test_traceability.py). `bench` names build/bench.json keys (DESIGN 7); `figure`
names a figure of the report itself (tools/report/__main__.py, figures()).
"""

from __future__ import annotations

SECTION4 = tuple("4.%d" % i for i in range(1, 12))

RULES: dict[str, dict] = {
    # ---- DESIGN section 3: the output ----
    "3.1": {
        "title": "Amplitude 10 uA to the device ceiling, set in uA (DAC codes only in the driver)",
        "code": [
            "waveforms/plan.py:build",
            "drivers/outstage.py:OutputStage.set_ua",
            "safety/limits.py:cap_ua",
        ],
        "bench": [],
        "figure": ["peak_ua_range"],
    },
    "3.2": {
        "title": "Frequency 0.3-1000 Hz; biphasic, monophasic (alternating) and wave shapes",
        "code": [
            "waveforms/plan.py:build",
            "waveforms/plan.py:build_step",
            "waveforms/envelope.py:Envelope",
        ],
        "bench": [],
        "figure": ["freq_range_hz", "shapes_seen"],
    },
    "3.3": {
        "title": "Each step names shape, frequency, polarity mode, intensity; the engine turns it "
        "into a pulse plan and plays it",
        "code": [
            "waveforms/plan.py:build_step",
            "waveforms/player.py:Player.start",
            "firmware/session.py:Session._begin_step",
        ],
        "bench": [],
        "figure": ["steps_measured"],
    },
    "3.4": {
        "title": "Net charge: biphasic balances each period; monophasic within 5 % over any 20 s",
        "code": [
            "waveforms/plan.py:_alt_periods",
            "waveforms/player.py:Player.set_amplitude",
            "waveforms/player.py:Player.finish",
        ],
        "bench": ["net_charge_pct_max_20s"],
        "figure": ["net_per_period_nc_max_biphasic", "net_pct_20s_max_monophasic"],
    },
    "3.5": {
        "title": "Timing: frequency error < 0.5 %, no phase stretched > 2 ms by GC or a flash "
        "write, no allocation while playing",
        "code": ["waveforms/player.py:Player", "waveforms/player.py:Player.quiet_us"],
        "bench": [
            "freq_error_pct_max",
            "max_phase_stretch_ms",
            "alloc_bytes_per_segment_micropython",
            "alloc_bytes_per_tick_micropython",
        ],
        "figure": ["freq_error_pct_max"],
    },
    "3.6": {
        "title": "Edges from hardware: phases and dead times within 2 us of the plan on the pins, "
        "+ and - phases equal within 2 us",
        "code": ["waveforms/player.py:Player"],
        "bench": ["dead_time_error_us_max"],
        "figure": ["phase_pair_diff_us_max", "dead_us_range"],
    },
    "3.7": {
        "title": "The control tick fits the RP2040: at most 25 % of its period",
        "code": ["firmware/app.py:App.tick", "safety/supervisor.py:Supervisor.tick"],
        "bench": ["tick_us_rp2040_est", "tick_us_micropython"],
        "figure": [],
    },
    # ---- DESIGN section 4: the non-negotiables ----
    "4.1": {
        "title": "Ceiling 1000 uA peak; home mode 500 uA; eye-area steps 200 uA",
        "code": [
            "safety/limits.py:cap_ua",
            "safety/supbase.py:SupervisorBase.set_step",
            "firmware/programcheck.py:validate",
        ],
        "bench": [],
        "figure": ["peak_ua_pro", "peak_ua_home", "peak_ua_eye"],
    },
    "4.2": {
        "title": "Current density: no step above 2 mA/cm2 r.m.s. for its probe's contact area",
        "code": ["safety/limits.py:density_cap_ua", "firmware/stepcheck.py:check_step"],
        "bench": [],
        "figure": ["density_rms_ma_cm2_max"],
    },
    "4.3": {
        "title": "Defence in depth: engine clamp, DAC driver code clamp, supervisor check of the "
        "measured current",
        "code": [
            "waveforms/player.py:Player.set_amplitude",
            "drivers/dac.py:DAC.set_code",
            "drivers/dac.py:ceiling_code",
            "safety/supervisor.py:Supervisor._check_sample",
        ],
        "bench": [],
        "figure": ["overcurrent_detect_ms"],
    },
    "4.4": {
        "title": "Soft start: from zero at <= 100 uA/s at every step, re-contact and resume",
        "code": [
            "safety/supervisor.py:Supervisor.tick",
            "safety/supervisor.py:Supervisor.restart_ramp",
        ],
        "bench": [],
        "figure": ["rise_ua_per_s_max"],
    },
    "4.5": {
        "title": "Contact gating: 1-200 kOhm window with hysteresis; output zero within one tick "
        "of contact loss; probe <= 20 uA, <= 2 ms, <= 5 % duty",
        "code": [
            "safety/contact.py:Contact.update",
            "safety/contact.py:ProbeTimer",
            "safety/probe.py:drive",
        ],
        "bench": ["reaction_contact_loss_ms"],
        "figure": ["contact_loss_ms_max", "contact_window", "probe"],
    },
    "4.6": {
        "title": "Faults latch (over-current, sense mismatch, short, DAC/I2C, stuck sense, "
        "watchdog, self-test, battery): OUT_EN off, DAC zero, cleared only by power cycle or a "
        "long press once the cause is gone",
        "code": [
            "safety/supbase.py:SupervisorBase.trip",
            "safety/supervisor.py:Supervisor._check_sample",
            "safety/clearing.py:clear",
            "safety/faults.py:SIM_FAULT_CODES",
        ],
        "bench": ["reaction_overcurrent_ms"],
        "figure": ["fault_detect_ms_max"],
    },
    "4.7": {
        "title": "Watchdog fed only from the control loop after the safety checks pass",
        "code": ["safety/supervisor.py:Supervisor._feed", "safety/supervisor.py:Supervisor.tick"],
        "bench": [],
        "figure": ["loop_stall"],
    },
    "4.8": {
        "title": "Power-on self-test: DAC zero, OUT_EN off, sense ranges, battery, programs",
        "code": ["safety/selftest.py:run", "firmware/app.py:App._run_selftest"],
        "bench": [],
        "figure": [],
    },
    "4.9": {
        "title": "Session limits: no step past its duration, no program past 30 min, auto "
        "power-off after 3 min idle or paused",
        "code": [
            "safety/limits.py:step_over",
            "safety/limits.py:program_over",
            "safety/limits.py:idle_over",
            "waveforms/player.py:Player.period_left_us",
            "firmware/session.py:Session.logic",
        ],
        "bench": [],
        "figure": ["step_overrun_s_max"],
    },
    "4.10": {
        "title": "Bad input (program, settings, log, I2C, any exception) never leaves the output "
        "on: output off first, then shown and logged",
        "code": [
            "firmware/app.py:App.crash",
            "firmware/programs.py:Library",
            "firmware/settings.py:Settings",
            "firmware/sessionlog.py:SessionLog",
        ],
        "bench": [],
        "figure": [],
    },
    "4.11": {
        "title": "Safety code uses `if ...: raise`, never `assert`",
        "code": ["safety/limits.py:cap_ua"],
        "bench": [],
        "figure": [],
    },
}

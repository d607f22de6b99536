// rp2040js steps its PIO state machines from a JavaScript event-loop timer, 1000 instructions at
// a time, whatever the emulated clock and the clock divider say: PIO edges then come at
// arbitrary emulated times. This wrapper (copied next to the pico-emu runner by `make hil`)
// re-times them before the runner starts: every emulated microsecond each enabled state machine
// gets 125 clk_sys cycles / its divider, and an instruction with delay [n] costs n + 1 cycles.
// Usage: node pio_clock.mjs <run.mjs arguments>
import { RPPIO } from 'rp2040js';

const CYCLES_PER_US = 125; // clk_sys 125 MHz

RPPIO.prototype.run = function run() {
  this.stopped = false;
  if (!this.clockAlarm) {
    this.clockAlarm = this.rp2040.clock.createAlarm(() => this.clockTick());
    this.cycleAcc = [0, 0, 0, 0];
  }
  if (!this.clockAlarm.scheduled) this.clockAlarm.schedule(1000);
};

RPPIO.prototype.clockTick = function clockTick() {
  this.clockAlarm.scheduled = false; // the clock unlinked it to fire it (and leaves the flag)
  if (this.stopped) return;
  for (let i = 0; i < 4; i++) {
    const m = this.machines[i];
    if (!m.enabled) {
      this.cycleAcc[i] = 0;
      continue;
    }
    const div = m.clockDivInt + m.clockDivFrac / 256 || 65536;
    this.cycleAcc[i] += CYCLES_PER_US;
    while (this.cycleAcc[i] >= div) {
      const c0 = m.cycles;
      m.step();
      const used = Math.max(1, m.cycles - c0);
      this.cycleAcc[i] -= used * div;
    }
  }
  this.checkChangedPins();
  this.clockAlarm.schedule(1000);
};

const origStop = RPPIO.prototype.stop;
RPPIO.prototype.stop = function stop() {
  origStop.call(this);
  if (this.clockAlarm) this.clockAlarm.cancel();
};

await import('./run.mjs');

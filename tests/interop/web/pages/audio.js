// What every test page shares: an event log the driver waits on, a WebAudio oscillator used
// as the microphone, and measurements of what arrives (packets from getStats, Goertzel tone
// energy of the remote track).
'use strict';

(function () {
  const started = performance.now();

  // -- event log: the driver waits for named events ----------------------------------------
  class EventLog {
    constructor() {
      this.events = [];
      this.cursor = {}; // name -> index of the next event of that name to hand out
      this.waiters = [];
    }
    add(name, detail = {}) {
      const event = { name, t: Math.round(performance.now() - started), ...detail };
      this.events.push(event);
      console.log(`event ${name} ${JSON.stringify(detail)}`);
      for (const waiter of this.waiters.splice(0)) waiter();
      return event;
    }
    // The next event called `name` not handed out yet (waits up to `timeoutMs`).
    next(name, timeoutMs = 10000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no '${name}' event within ${timeoutMs} ms; log: ${JSON.stringify(this.events)}`));
        }, timeoutMs);
        const look = () => {
          const from = this.cursor[name] || 0;
          for (let i = from; i < this.events.length; i++) {
            if (this.events[i].name === name) {
              this.cursor[name] = i + 1;
              clearTimeout(timer);
              resolve(this.events[i]);
              return;
            }
          }
          this.waiters.push(look);
        };
        look();
      });
    }
    // Forget the events so far: the next waits see only later ones.
    skip() {
      for (const event of this.events) this.cursor[event.name] = this.events.length;
      return this.events.length;
    }
    all(name) {
      return this.events.filter((e) => e.name === name);
    }
  }

  // -- microphone: a known tone instead of the fake device's beep --------------------------
  function toneStream(ctx, frequency, amplitude = 0.3) {
    const osc = ctx.createOscillator();
    osc.frequency.value = frequency;
    const gain = ctx.createGain();
    gain.gain.value = amplitude;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(gain).connect(dest);
    osc.start();
    return dest.stream;
  }

  // Power of `frequency` in `samples` relative to their mean square: close to 1 for a pure
  // tone at that frequency, close to 0 when it is absent.
  function goertzel(samples, rate, frequency) {
    const k = 2 * Math.cos((2 * Math.PI * frequency) / rate);
    let s1 = 0;
    let s2 = 0;
    let energy = 0;
    for (const x of samples) {
      const s0 = x + k * s1 - s2;
      s2 = s1;
      s1 = s0;
      energy += x * x;
    }
    const n = samples.length;
    const power = (2 * (s1 * s1 + s2 * s2 - k * s1 * s2)) / (n * n);
    return { tone: power, meanSquare: energy / n };
  }

  // -- what arrives from the peer ----------------------------------------------------------
  class RemoteAudio {
    constructor(ctx, track, frequency) {
      this.ctx = ctx;
      this.frequency = frequency;
      const stream = new MediaStream([track]);
      // Chromium feeds a remote WebRTC track to WebAudio only while a media element plays it
      this.element = new Audio();
      this.element.muted = true;
      this.element.srcObject = stream;
      this.element.play().catch((err) => console.log(`audio element: ${err}`));
      this.source = ctx.createMediaStreamSource(stream);
      this.analyser = ctx.createAnalyser();
      this.analyser.fftSize = 2048;
      this.source.connect(this.analyser);
      this.buffer = new Float32Array(this.analyser.fftSize);
      this.tone = 0;
      this.total = 0;
      this.windows = 0;
      this.timer = setInterval(() => this.sample(), 40);
    }
    sample() {
      this.analyser.getFloatTimeDomainData(this.buffer);
      const g = goertzel(this.buffer, this.ctx.sampleRate, this.frequency);
      this.tone += g.tone;
      this.total += g.meanSquare;
      this.windows += 1;
    }
    snapshot() {
      return { tone: this.tone, total: this.total, windows: this.windows };
    }
    stop() {
      clearInterval(this.timer);
      this.source.disconnect();
      this.element.srcObject = null;
    }
  }

  async function inboundPackets(pc) {
    if (!pc) return 0;
    const stats = await pc.getStats();
    let packets = 0;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') packets += s.packetsReceived || 0;
    });
    return packets;
  }

  // Audio received during `ms`: RTP packets (getStats inbound-rtp), and the share of the
  // signal's power at the expected tone with its RMS level (WebAudio analysis).
  async function measure(pc, remote, ms) {
    const p0 = await inboundPackets(pc);
    const a0 = remote ? remote.snapshot() : { tone: 0, total: 0, windows: 0 };
    await new Promise((r) => setTimeout(r, ms));
    const p1 = await inboundPackets(pc);
    const a1 = remote ? remote.snapshot() : a0;
    const windows = a1.windows - a0.windows;
    const total = a1.total - a0.total;
    const tone = a1.tone - a0.tone;
    return {
      packets: p1 - p0,
      packetsTotal: p1,
      windows,
      rms: windows ? Math.sqrt(total / windows) : 0,
      toneShare: total > 0 ? tone / total : 0,
    };
  }

  window.kit = { EventLog, toneStream, goertzel, RemoteAudio, inboundPackets, measure };
})();

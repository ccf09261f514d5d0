// window.phone: one JsSIP user agent in the page, driven by tests/interop/browser.
// Every method returns a promise (or a value) that playwright's evaluate hands back as JSON.
'use strict';

(function () {
  const log = new kit.EventLog();
  let ua = null;
  let session = null;
  let ctx = null;
  let mic = null;
  let remote = null;
  let expectHz = 440;

  function pc() {
    return session ? session.connection : null;
  }

  // The remote audio track once the peer connection has one (both call directions).
  function watchRemote() {
    const conn = pc();
    if (!conn || remote) return;
    const receiver = conn.getReceivers().find((r) => r.track && r.track.kind === 'audio');
    if (!receiver) return;
    remote = new kit.RemoteAudio(ctx, receiver.track, expectHz);
    log.add('media', {});
  }

  function attach(s, originator) {
    session = s;
    remote = null;
    const on = (name, fn) => s.on(name, fn);
    on('progress', (e) => log.add('progress', { originator: e.originator, status: e.response ? e.response.status_code : null }));
    on('accepted', (e) => {
      log.add('accepted', { originator: e.originator });
      watchRemote();
    });
    on('confirmed', (e) => {
      log.add('confirmed', { originator: e.originator });
      watchRemote();
    });
    on('ended', (e) => log.add('ended', { originator: e.originator, cause: e.cause }));
    on('failed', (e) => log.add('failed', {
      originator: e.originator,
      cause: e.cause,
      status: e.message && e.message.status_code ? e.message.status_code : null,
    }));
    on('hold', (e) => log.add('hold', { originator: e.originator }));
    on('unhold', (e) => log.add('unhold', { originator: e.originator }));
    on('newDTMF', (e) => log.add('dtmf', { originator: e.originator, tone: e.dtmf.tone }));
    on('newInfo', (e) => log.add('info', {
      originator: e.originator,
      contentType: e.info.contentType,
      body: e.info.body,
    }));
    on('sdp', (e) => {
      if (e.originator === 'remote') {
        const m = /a=(sendrecv|sendonly|recvonly|inactive)/.exec(e.sdp);
        log.add('remote-sdp', { type: e.type, direction: m ? m[1] : null });
      }
    });
    on('peerconnection', () => log.add('peerconnection', {}));
    if (originator === 'remote') {
      log.add('incoming', {
        from: s.remote_identity.uri.toString(),
        to: s.local_identity.uri.toString(),
      });
    }
  }

  const options = () => ({
    mediaStream: mic,
    pcConfig: { iceServers: [] },
    rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
  });

  window.phone = {
    log,
    next: (name, timeoutMs) => log.next(name, timeoutMs),
    skip: () => log.skip(),
    events: () => log.events,

    // Register `uri` with `password` over `server` (ws:// or wss://); our tone is `toneHz`,
    // the peer's is expected at `expectHz`.
    async register({ server, uri, password, toneHz = 700, expect = 440 }) {
      expectHz = expect;
      ctx = new AudioContext();
      await ctx.resume();
      mic = kit.toneStream(ctx, toneHz);
      const socket = new JsSIP.WebSocketInterface(server);
      ua = new JsSIP.UA({
        sockets: [socket],
        uri,
        password,
        register: true,
        session_timers: false,
        user_agent: `JsSIP ${JsSIP.version}`,
      });
      ua.on('newRTCSession', (e) => attach(e.session, e.originator));
      const outcome = new Promise((resolve) => {
        ua.on('registered', (e) => resolve({ registered: true, status: e.response.status_code }));
        ua.on('registrationFailed', (e) => resolve({ registered: false, cause: e.cause }));
      });
      ua.start();
      return outcome;
    },

    call(target) {
      ua.call(target, options());
      return true;
    },

    answer() {
      session.answer(options());
      return true;
    },

    // Our hold/unhold re-INVITE, resolved once its transaction is done (a second one
    // would be refused while the first is pending).
    hold() {
      return new Promise((resolve, reject) => {
        if (!session.hold({}, () => resolve(true))) reject(new Error('hold refused'));
      });
    },
    unhold() {
      return new Promise((resolve, reject) => {
        if (!session.unhold({}, () => resolve(true))) reject(new Error('unhold refused'));
      });
    },
    isOnHold() {
      return session.isOnHold();
    },

    sendInfoDtmf(digits) {
      session.sendDTMF(digits, { transportType: 'INFO', duration: 100, interToneGap: 70 });
      return true;
    },

    // RFC 4733 telephone-events through the browser's RTCDTMFSender.
    sendRtpDtmf(digits) {
      const sender = pc().getSenders().find((s) => s.track && s.track.kind === 'audio');
      if (!sender || !sender.dtmf || !sender.dtmf.canInsertDTMF) return { sent: false };
      return new Promise((resolve) => {
        const tones = [];
        sender.dtmf.ontonechange = (e) => {
          if (e.tone) tones.push(e.tone);
          else resolve({ sent: true, tones: tones.join('') });
        };
        sender.dtmf.insertDTMF(digits, 100, 70);
      });
    },

    hangup() {
      session.terminate();
      return true;
    },

    measure(ms) {
      return kit.measure(pc(), remote, ms);
    },

    // The direction of our audio in the current local description.
    localDirection() {
      const conn = pc();
      const t = conn && conn.getTransceivers()[0];
      return t ? { direction: t.direction, current: t.currentDirection } : null;
    },

    async stop() {
      if (remote) remote.stop();
      if (ua) {
        ua.stop();
        await new Promise((r) => setTimeout(r, 100));
      }
      return true;
    },
  };
})();

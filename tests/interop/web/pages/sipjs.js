// window.phone for SIP.js 0.21 (its API layer: UserAgent, Registerer, Inviter), with the
// same methods as pages/jssip.js where both apply.
import {
  Inviter,
  Registerer,
  RegistererState,
  SessionState,
  UserAgent,
  Web,
} from '/node_modules/sip.js/lib/index.js';

const log = new kit.EventLog();
let ua = null;
let session = null;
let ctx = null;
let remote = null;
let expectHz = 440;
let toneHz = 700;
let hungUpHere = false;

function pc() {
  const sdh = session && session.sessionDescriptionHandler;
  return sdh ? sdh.peerConnection : null;
}

function watchRemote() {
  const conn = pc();
  if (!conn || remote) return;
  const receiver = conn.getReceivers().find((r) => r.track && r.track.kind === 'audio');
  if (!receiver) return;
  remote = new kit.RemoteAudio(ctx, receiver.track, expectHz);
  log.add('media', {});
}

function attach(s) {
  session = s;
  remote = null;
  hungUpHere = false;
  s.stateChange.addListener((state) => {
    if (state === SessionState.Established) {
      log.add('confirmed', {});
      watchRemote();
    } else if (state === SessionState.Terminated) {
      log.add('ended', { originator: hungUpHere ? 'local' : 'remote' });
    }
  });
  s.delegate = {
    onBye: () => log.add('bye', {}),
    onInfo: (info) => {
      const request = info.request;
      log.add('info', { contentType: request.getHeader('Content-Type'), body: request.body });
      const m = /Signal\s*=\s*([0-9A-D#*])/i.exec(request.body || '');
      if (m) log.add('dtmf', { originator: 'remote', tone: m[1] });
      info.accept();
    },
  };
}

window.phone = {
  log,
  next: (name, timeoutMs) => log.next(name, timeoutMs),
  skip: () => log.skip(),
  events: () => log.events,

  async register({ server, uri, password, toneHz: tone = 700, expect = 440 }) {
    expectHz = expect;
    toneHz = tone;
    ctx = new AudioContext();
    await ctx.resume();
    const user = UserAgent.makeURI(uri).user;
    ua = new UserAgent({
      uri: UserAgent.makeURI(uri),
      authorizationUsername: user,
      authorizationPassword: password,
      transportOptions: { server },
      userAgentString: 'SIP.js',
      logLevel: 'warn',
      // the microphone is a tone (a fresh oscillator per call); no outside STUN server
      sessionDescriptionHandlerFactory: Web.defaultSessionDescriptionHandlerFactory(
        async () => kit.toneStream(ctx, toneHz),
      ),
      sessionDescriptionHandlerFactoryOptions: {
        peerConnectionConfiguration: { iceServers: [] },
        iceGatheringTimeout: 2000,
      },
      delegate: {
        onInvite: (invitation) => {
          attach(invitation);
          log.add('incoming', { from: invitation.remoteIdentity.uri.toString() });
        },
      },
    });
    await ua.start();
    const registerer = new Registerer(ua);
    return new Promise((resolve) => {
      registerer.stateChange.addListener((state) => {
        if (state === RegistererState.Registered) resolve({ registered: true, status: 200 });
      });
      registerer.register({
        requestDelegate: {
          onReject: (response) => resolve({ registered: false, status: response.message.statusCode }),
        },
      });
    });
  },

  call(target) {
    const inviter = new Inviter(ua, UserAgent.makeURI(target));
    attach(inviter);
    inviter.invite({
      requestDelegate: {
        onProgress: (response) => log.add('progress', { status: response.message.statusCode }),
        onReject: (response) => log.add('failed', { status: response.message.statusCode }),
      },
    });
    return true;
  },

  answer() {
    session.accept();
    return true;
  },

  // DTMF by SIP INFO (application/dtmf-relay), one request per digit, each awaited.
  async sendInfoDtmf(digits) {
    for (const tone of digits) {
      await new Promise((resolve, reject) => {
        session.info({
          requestOptions: {
            body: {
              contentDisposition: 'render',
              contentType: 'application/dtmf-relay',
              content: `Signal=${tone}\r\nDuration=100\r\n`,
            },
          },
          requestDelegate: { onAccept: resolve, onReject: (r) => reject(new Error(`INFO ${r.message.statusCode}`)) },
        });
      });
    }
    return true;
  },

  hangup() {
    hungUpHere = true;
    if (session.state === SessionState.Established) session.bye();
    else if (session instanceof Inviter) session.cancel();
    else session.reject();
    return true;
  },

  measure(ms) {
    return kit.measure(pc(), remote, ms);
  },

  async stop() {
    if (remote) remote.stop();
    if (ua) await ua.stop();
    return true;
  },
};
log.add('loaded', {});

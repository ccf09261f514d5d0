// Worker of the RTCRtpScriptTransform that audio.js puts on a call's audio receiver: every
// encoded frame passes on unchanged; each RFC 4733 telephone-event among them (4-byte payload:
// event, E|R|volume, duration; RFC 4733 §2.3) is reported to the page.
'use strict';

onrtctransform = (event) => {
  const { readable, writable } = event.transformer;
  readable
    .pipeThrough(
      new TransformStream({
        transform(frame, controller) {
          const meta = frame.getMetadata();
          const mime = meta.mimeType || '';
          const known = mime !== '';
          if (known ? /telephone-event/i.test(mime) : frame.data.byteLength === 4) {
            const bytes = new Uint8Array(frame.data);
            self.postMessage({
              pt: meta.payloadType,
              mime,
              event: bytes[0],
              end: (bytes[1] & 0x80) !== 0,
              timestamp: meta.rtpTimestamp ?? frame.timestamp,
            });
          }
          controller.enqueue(frame);
        },
      }),
    )
    .pipeTo(writable)
    .catch((err) => self.postMessage({ error: String(err) }));
};

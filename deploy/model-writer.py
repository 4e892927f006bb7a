#!/usr/bin/env python3
"""A stand-in for a model in production, for the docker compose demo.

It scores made-up card transactions and appends one JSON line per prediction to a log file, the
way a model server logs its inputs and outputs, with the columns of
reference-data/reference.parquet (see reference-data/README.md). drift-exporter runs beside it
as a sidecar and tails that file.

The traffic alternates between a clean phase (the reference's distribution: no drift) and a
drifted phase (larger amounts, an unseen country, more web traffic, bigger baskets, higher
scores: the same shift as reference-data/samples/batch-0003-drifted.ndjson), so the dashboard
and the alerts have something to show. Now and then it rotates the file like logrotate does
(rename to .1, start a new file), and it writes a rare malformed line to feed the
rejected-rows panel.

Standard library only (runs in python:3.11-slim). Settings from the environment:

    PREDICTIONS_PATH   the log file                       /shared/predictions.jsonl
    ROWS_PER_SECOND    predictions per second             20
    CLEAN_SECONDS      length of a clean phase            600
    DRIFT_SECONDS      length of a drifted phase          300 (0: never drift)
    ROTATE_BYTES       rotate once the file is this big   5000000
    BAD_LINE_RATIO     share of malformed lines           0.001
    SEED               random seed                        (none: different every run)
"""

import json
import math
import os
import random
import signal
import sys
import time

PATH = os.environ.get("PREDICTIONS_PATH", "/shared/predictions.jsonl")
ROWS_PER_SECOND = float(os.environ.get("ROWS_PER_SECOND", "20"))
CLEAN_SECONDS = float(os.environ.get("CLEAN_SECONDS", "600"))
DRIFT_SECONDS = float(os.environ.get("DRIFT_SECONDS", "300"))
ROTATE_BYTES = int(os.environ.get("ROTATE_BYTES", "5000000"))
BAD_LINE_RATIO = float(os.environ.get("BAD_LINE_RATIO", "0.001"))

COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR"]
COUNTRY_P = [0.38, 0.14, 0.12, 0.10, 0.08, 0.07, 0.06, 0.05]
DRIFT_COUNTRIES = COUNTRIES + ["NG"]  # NG: never seen in training
DRIFT_COUNTRY_P = [0.25, 0.10, 0.10, 0.08, 0.08, 0.07, 0.05, 0.17, 0.10]
DEVICES = ["ios", "android", "web"]
DEVICE_P = [0.42, 0.38, 0.20]
DRIFT_DEVICE_P = [0.30, 0.32, 0.38]
COUNTRY_RISK = {"US": 0.0, "GB": 0.1, "DE": -0.1, "FR": 0.0, "ES": 0.2, "IT": 0.1, "NL": -0.2,
                "BR": 0.5, "NG": 0.9}

running = True


def stop(_signum, _frame):
    global running
    running = False


def poisson(rng, mean):
    """Knuth's method; fine for the small means used here."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def transaction(rng, drifted):
    """One scored transaction, distributed like reference-data/make_sample.py's batches."""
    if drifted:
        amount = rng.lognormvariate(4.0, 1.1)
        country = rng.choices(DRIFT_COUNTRIES, DRIFT_COUNTRY_P)[0]
        device = rng.choices(DEVICES, DRIFT_DEVICE_P)[0]
        items_mean = 2.2
    else:
        amount = rng.lognormvariate(3.6, 1.0)
        country = rng.choices(COUNTRIES, COUNTRY_P)[0]
        device = rng.choices(DEVICES, DEVICE_P)[0]
        items_mean = 1.6
    amount = round(amount, 2)
    age = int(min(max(round(rng.gauss(41, 13)), 18), 90))
    account_age_days = int(min(math.floor(rng.expovariate(1 / 420)), 3650))
    num_items = poisson(rng, items_mean) + 1
    is_new_customer = account_age_days < 30 or rng.random() < 0.03

    # "the model": a logistic score of the features
    logit = (-3.4 + 0.55 * (math.log(amount + 1) - 3.6) + 0.9 * is_new_customer
             - 0.012 * (age - 41) + 0.08 * (num_items - 2) + COUNTRY_RISK[country]
             + 0.25 * (device == "web") + rng.gauss(0, 0.35))
    if drifted:
        logit += 0.6
    prediction = round(1 / (1 + math.exp(-logit)), 4)

    return {
        "amount": amount,
        "age": None if rng.random() < 0.04 else age,  # optional at signup
        "account_age_days": account_age_days,
        "num_items": num_items,
        "country": country,
        "device": device,
        "is_new_customer": is_new_customer,
        "prediction": prediction,
    }


def drifted_at(elapsed):
    if DRIFT_SECONDS <= 0:
        return False
    return elapsed % (CLEAN_SECONDS + DRIFT_SECONDS) >= CLEAN_SECONDS


def rotate_if_big(out):
    if out.tell() < ROTATE_BYTES:
        return out
    out.close()
    os.replace(PATH, PATH + ".1")
    print(f"model-writer: rotated {PATH} to {PATH}.1", flush=True)
    return open(PATH, "a", encoding="utf-8")


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    seed = os.environ.get("SEED")
    rng = random.Random(int(seed) if seed else None)
    os.makedirs(os.path.dirname(PATH) or ".", exist_ok=True)
    print(f"model-writer: {ROWS_PER_SECOND:g} predictions/s to {PATH}; clean {CLEAN_SECONDS:g}s, "
          f"drifted {DRIFT_SECONDS:g}s, rotate at {ROTATE_BYTES} bytes", flush=True)

    start = time.monotonic()
    out = open(PATH, "a", encoding="utf-8")
    phase = None
    tick = 0.25  # write in small batches, a few times a second
    debt = 0.0
    while running:
        elapsed = time.monotonic() - start
        drifted = drifted_at(elapsed)
        if drifted != phase:
            phase = drifted
            print(f"model-writer: {'drifted' if drifted else 'clean'} traffic from "
                  f"{elapsed:.0f}s", flush=True)
        debt += ROWS_PER_SECOND * tick
        lines = []
        while debt >= 1:
            debt -= 1
            if rng.random() < BAD_LINE_RATIO:
                lines.append('{"amount": 12.5, "country": "US", "prediction": \n')  # cut short
            else:
                lines.append(json.dumps(transaction(rng, drifted)) + "\n")
        # Whole lines in one write: a tailing reader never sees half a line for long.
        out.write("".join(lines))
        out.flush()
        out = rotate_if_big(out)
        time.sleep(tick)
    out.close()
    print("model-writer: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sample data shipped with drift-exporter: a fraud detector's reference set and three batches.

Run from the repository root (deterministic: fixed seed, same bytes every run):

    python3 reference-data/make_sample.py

Writes
    reference-data/reference.parquet                 10,000 training rows
    reference-data/samples/batch-0001-clean.parquet   same distribution as the reference
    reference-data/samples/batch-0002-clean.csv       same distribution as the reference
    reference-data/samples/batch-0003-drifted.ndjson  amount, country, device and num_items
                                                      shifted, an unseen country (NG),
                                                      predictions shifted up

Every table has the ground truth `is_fraud` (0/1, drawn from the fraud probability the
model should have given: its score, or for the drifted batch the score before the shift,
so the drifted batch's predictions are over-confident). The batches also carry what the
model server reports: `latency_ms` and `error` (a failed prediction, about 1%). These come
from a second generator (SEED + 1) after the features, so the features are the same as
before they were added.
"""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20261101
HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"

COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BR"]
COUNTRY_P = [0.38, 0.14, 0.12, 0.10, 0.08, 0.07, 0.06, 0.05]
DEVICES = ["ios", "android", "web"]
DEVICE_P = [0.42, 0.38, 0.20]
# higher fraud base rates for some countries (part of the "model")
COUNTRY_RISK = {"US": 0.0, "GB": 0.1, "DE": -0.1, "FR": 0.0, "ES": 0.2, "IT": 0.1, "NL": -0.2, "BR": 0.5, "NG": 0.9}


def make_batch(rng, n, drifted=False):
    """Rows of transactions with the model's fraud probability in `prediction`."""
    if drifted:
        amount = rng.lognormal(4.0, 1.1, n)  # larger transactions
        countries = COUNTRIES + ["NG"]  # NG: never seen in training
        country_p = [0.25, 0.10, 0.10, 0.08, 0.08, 0.07, 0.05, 0.17, 0.10]
        device_p = [0.30, 0.32, 0.38]  # more web traffic
        items_mean = 2.2  # bigger baskets
    else:
        amount = rng.lognormal(3.6, 1.0, n)
        countries, country_p = COUNTRIES, COUNTRY_P
        device_p, items_mean = DEVICE_P, 1.6
    amount = np.round(amount, 2)

    age = np.clip(np.round(rng.normal(41, 13, n)), 18, 90).astype(np.int64)
    account_age_days = np.minimum(np.floor(rng.exponential(420, n)), 3650).astype(np.int64)
    num_items = (rng.poisson(items_mean, n) + 1).astype(np.int64)
    country = rng.choice(countries, size=n, p=country_p)
    device = rng.choice(DEVICES, size=n, p=device_p)
    is_new_customer = (account_age_days < 30) | (rng.random(n) < 0.03)

    # the model: a logistic score of the features
    logit = (
        -3.4
        + 0.55 * (np.log(amount + 1) - 3.6)
        + 0.9 * is_new_customer
        - 0.012 * (age - 41)
        + 0.08 * (num_items - 2)
        + np.array([COUNTRY_RISK[c] for c in country])
        + 0.25 * (device == "web")
        + rng.normal(0, 0.35, n)
    )
    if drifted:
        logit = logit + 0.6
    prediction = np.round(1 / (1 + np.exp(-logit)), 4)

    # age is optional at signup: about 4% nulls
    age_values = [None if m else int(a) for a, m in zip(age, rng.random(n) < 0.04)]

    return pa.table(
        {
            "amount": pa.array(amount.tolist(), type=pa.float64()),
            "age": pa.array(age_values, type=pa.int64()),
            "account_age_days": pa.array(account_age_days.tolist(), type=pa.int64()),
            "num_items": pa.array(num_items.tolist(), type=pa.int64()),
            "country": pa.array(country.tolist(), type=pa.string()),
            "device": pa.array(device.tolist(), type=pa.string()),
            "is_new_customer": pa.array(is_new_customer.tolist(), type=pa.bool_()),
            "prediction": pa.array(prediction.tolist(), type=pa.float64()),
        }
    )


def add_outcomes(rng, table, drifted=False, serving=True):
    """Appends is_fraud (and, for batches, latency_ms and error) from `rng`."""
    p = np.array(table.column("prediction").to_pylist())
    if drifted:
        # The batch's predictions were shifted up by 0.6 on the logit scale; the true
        # fraud rate was not.
        logit = np.log(p / (1 - p)) - 0.6
        p = 1 / (1 + np.exp(-logit))
    is_fraud = (rng.random(len(p)) < p).astype(np.int64)
    table = table.append_column("is_fraud", pa.array(is_fraud.tolist(), type=pa.int64()))
    if serving:
        latency = np.round(rng.lognormal(3.0, 0.5, len(p)), 1)
        error = rng.random(len(p)) < 0.01
        table = table.append_column("latency_ms", pa.array(latency.tolist(), type=pa.float64()))
        table = table.append_column("error", pa.array(error.tolist(), type=pa.bool_()))
    return table


def rows(table):
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    for i in range(table.num_rows):
        yield {name: columns[name][i] for name in table.column_names}


def csv_cell(v):
    if v is None:
        return ""  # empty cell = null
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        assert math.isfinite(v)
        return repr(v)
    return str(v)


def write_csv(table, path):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(table.column_names)
        for row in rows(table):
            w.writerow([csv_cell(v) for v in row.values()])


def write_ndjson(table, path):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows(table):
            f.write(json.dumps(row, allow_nan=False) + "\n")


def main():
    rng = np.random.default_rng(SEED)
    SAMPLES.mkdir(parents=True, exist_ok=True)

    reference = make_batch(rng, 10_000)
    batches = [make_batch(rng, 1_500), make_batch(rng, 1_500), make_batch(rng, 1_200, drifted=True)]
    outcomes = np.random.default_rng(SEED + 1)
    reference = add_outcomes(outcomes, reference, serving=False)
    batches = [add_outcomes(outcomes, b, drifted=(i == 2)) for i, b in enumerate(batches)]
    pq.write_table(reference, HERE / "reference.parquet")
    pq.write_table(batches[0], SAMPLES / "batch-0001-clean.parquet")
    write_csv(batches[1], SAMPLES / "batch-0002-clean.csv")
    write_ndjson(batches[2], SAMPLES / "batch-0003-drifted.ndjson")

    for path in [HERE / "reference.parquet", *sorted(SAMPLES.iterdir())]:
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()

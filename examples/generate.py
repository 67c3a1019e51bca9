"""Generate the bundled demo data for the O2 Business example program.

    python examples/generate.py [--rows N] [--seed S] [--out DIR]

writes `contracts.csv`, `legacy.csv` and `quality.csv` (see examples/README.md).

Design:
- Deterministic: one `random.Random(seed)`, no clock, no set iteration, fixed line endings, so
  re-running with the same arguments gives byte-identical files (a test checks this).
- Stdlib only, so the data can be rebuilt without the project installed.
- The tier spread is designed, not left to chance: every partner has a target tier per year,
  rows are shared out in proportion to the target points, and quantities are then scaled until
  a rough estimate of the points (the invented values of rulesets/o2-business) lands on the
  target, which sits well inside the tier's band. The estimate lives here, apart from the
  engine, so the data does not depend on the code it is meant to exercise; the test recomputes
  the points independently. `--rows` scales the volume: the designed spread holds for the
  default size, larger files make richer partners.
- About 1% of rows are deliberately bad (see BAD_KINDS), each kind at least once.
"""
from __future__ import annotations

import argparse
import calendar
import csv
import io
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

DEFAULT_ROWS = 4_000
DEFAULT_SEED = 2016
LAST_DAY = date(2018, 6, 30)
POINTS_START = date(2016, 3, 1)  # no version of the program is in force before this day

CONTRACT_COLUMNS = (
    "contract_id", "partner_id", "partner_name", "signed", "product",
    "customer", "quantity", "pool_gb", "sales_rep",
)
LEGACY_COLUMNS = ("partner_id", "status")
# Operators report per customer contract and label the month; the partner is the contract's.
QUALITY_COLUMNS = ("contract_id", "reported", "missed_payment", "usage_pct", "cancelled")

# id, name, legacy status (None: a newcomer), designed tier in 2016, 2017 and (pace) 2018.
PARTNERS = (
    ("P-001", "Funkhaus Becker GmbH", "Premium", "ExpertPlus", "ExpertPlus", "ExpertPlus"),
    ("P-002", "TK-Systemhaus Nord GmbH", "Premium", "ExpertPlus", "Expert", "Expert"),
    ("P-003", "Rhein-Main Kommunikation GmbH", "Premium", "ExpertPlus", "Advanced", "Basic"),
    ("P-004", "Bayern Business Mobil GmbH", "Premium", "Expert", "ExpertPlus", "ExpertPlus"),
    ("P-005", "Netzwerk Schulz & Partner", "Gold", "Expert", "Expert", "Expert"),
    ("P-006", "Hanse Telekommunikation KG", "Premium", "Expert", "Basic", "Basic"),
    ("P-007", "Südwest Mobilfunk GmbH", "Gold", "Expert", "Expert", "Advanced"),
    ("P-008", "Elbe Connect GmbH", "Premium", "Expert", "Advanced", "Advanced"),
    ("P-009", "Datafon Solutions GmbH", None, "Expert", "Expert", "Expert"),
    ("P-010", "Kommunikationstechnik Wagner", "Gold", "Expert", "Basic", "Basic"),
    ("P-011", "Ruhr Mobile Services GmbH", "Gold", "Advanced", "ExpertPlus", "ExpertPlus"),
    ("P-012", "Telepoint Franken GmbH", "Gold", "Advanced", "Expert", "Expert"),
    ("P-013", "Alpen Funk & Netz GmbH", "Business Silber Partner", "Advanced", "Advanced", "Advanced"),
    ("P-014", "Handyprofi Köln GmbH", "Gold", "Advanced", "Advanced", "Advanced"),
    ("P-015", "Westfalen IT & Mobil", "Gold", "Advanced", "Basic", "Advanced"),
    ("P-016", "Saar Telecom Partner GmbH", "Business Silber Partner", "Advanced", "Advanced", "Advanced"),
    ("P-017", "Berliner Bürokommunikation GmbH", "Premium", "Advanced", "Expert", "Expert"),
    ("P-018", "Mobil Plus Dresden", "Gold", "Advanced", "Advanced", "Advanced"),
    ("P-019", "Ostsee Netzwerke GmbH", "Business Partner", "Advanced", "Basic", "Basic"),
    ("P-020", "Funk-Center Hoffmann", "Business Silber Partner", "Basic", "Advanced", "Advanced"),
    ("P-021", "Weber Telekommunikation e.K.", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-022", "Nordlicht Mobilfunk", "Gold", "Basic", "Basic", "Basic"),
    ("P-023", "Schwarzwald Kommunikation", "Business Partner", "Basic", "Advanced", "Advanced"),
    ("P-024", "Mobilshop Meyer e.K.", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-025", "Neckar Business Phone GmbH", "Premium", "Basic", "Basic", "Basic"),
    ("P-026", "Pfalz Telecom", "Business Silber Partner", "Basic", "Expert", "Expert"),
    ("P-027", "Münsterland Mobil GmbH", None, "Basic", "Basic", "Basic"),
    ("P-028", "City Phone Leipzig", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-029", "Harz Funk Service", "Business Silber Partner", "Basic", "Basic", "Basic"),
    ("P-030", "Bodensee Connect", "Business Partner", "Basic", "Advanced", "Advanced"),
    ("P-031", "Allgäu Mobilfunk Fischer", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-032", "Weserbergland Telekom", "Business Silber Partner", "Basic", "Basic", "Basic"),
    ("P-033", "Digital Office Hamburg GmbH", None, "Basic", "Basic", "Basic"),
    ("P-034", "Mobilfunk Krause e.K.", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-035", "Oberpfalz Kommunikation", "Business Partner", "Basic", "Basic", "Basic"),
    ("P-036", "Eifel Netz & Telefon", None, "Basic", "Basic", "Basic"),
)
# A partner of the old program that signed nothing since: it is only in the legacy file.
LEGACY_ONLY = ("P-037", "Gold")

# Target points are drawn from well inside each tier's band, so that the 2017 changes
# (Advanced from 8,000) and estimate errors do not move anyone across a threshold.
TARGET_BANDS = {
    "Basic": (1_500, 6_000),
    "Advanced": (9_500, 13_000),
    "Expert": (20_000, 36_000),
    "ExpertPlus": (52_000, 70_000),
}
YEARS = (2016, 2017, 2018)
PACE_2018 = Decimal("0.5")  # the data ends on 30 June 2018: half a year at the designed pace

MOBILE = ("O2 Business Start", "O2 Business S", "O2 Business M", "O2 Business L", "O2 Business XL")
FIXED = ("O2 Business ISDN", "O2 DSL Business 16", "O2 DSL Business 50",
         "O2 VDSL Business 100", "O2 VDSL Business 250")
DP, DP_PRO, UNITE = "O2 Digital Phone", "O2 Digital Phone Pro", "O2 Unite Pool"

# Product mix per year (relative weights). Products removed from the program keep selling
# for a while, so their contracts show up unscored.
MIX = {
    2016: {"O2 Business Start": 6, "O2 Business S": 15, "O2 Business M": 20, "O2 Business L": 14,
           "O2 Business XL": 7, "O2 Business ISDN": 4, "O2 DSL Business 16": 4,
           "O2 DSL Business 50": 5, "O2 VDSL Business 100": 4, DP: 8, UNITE: 7},
    2017: {"O2 Business Start": 2, "O2 Business S": 15, "O2 Business M": 20, "O2 Business L": 14,
           "O2 Business XL": 8, "O2 Business ISDN": 2, "O2 DSL Business 16": 3,
           "O2 DSL Business 50": 5, "O2 VDSL Business 100": 5, DP: 6, DP_PRO: 4, UNITE: 7},
    2018: {"O2 Business Start": 1, "O2 Business S": 14, "O2 Business M": 20, "O2 Business L": 14,
           "O2 Business XL": 9, "O2 Business ISDN": 1, "O2 DSL Business 16": 2,
           "O2 DSL Business 50": 5, "O2 VDSL Business 100": 5, "O2 VDSL Business 250": 3,
           DP: 5, DP_PRO: 5, UNITE: 7},
}

# Sizing estimate of the invented point values: per unit (new, existing), caps and the Unite rate.
_MOBILE_2016 = {"O2 Business Start": (40, 15), "O2 Business S": (80, 30), "O2 Business M": (140, 55),
                "O2 Business L": (220, 90), "O2 Business XL": (340, 140)}
_MOBILE_2017 = {"O2 Business S": (80, 30), "O2 Business M": (140, 55),
                "O2 Business L": (240, 90), "O2 Business XL": (340, 160)}
_FIXED_2016 = {"O2 Business ISDN": 50, "O2 DSL Business 16": 60, "O2 DSL Business 50": 100,
               "O2 VDSL Business 100": 150}
_FIXED_2017 = {"O2 DSL Business 16": 50, "O2 DSL Business 50": 100, "O2 VDSL Business 100": 150}
SIZING = {
    2016: {"mobile": _MOBILE_2016, "fixed": _FIXED_2016, DP: (20, 400), DP_PRO: None, UNITE: 2_500},
    2017: {"mobile": _MOBILE_2017, "fixed": _FIXED_2017, DP: (20, 400), DP_PRO: (35, 700), UNITE: 3_000},
    2018: {"mobile": {**_MOBILE_2017, "O2 Business M": (140, 60)},
           "fixed": {**_FIXED_2017, "O2 VDSL Business 250": 220},
           DP: (20, 600), DP_PRO: (35, 700), UNITE: 3_000},
}
UNITE_RATE = Decimal("2.5")

UNKNOWN_PRODUCTS = ("O2 Business Fax", "O2 Loop Prepaid", "O2 Business SMS Flat")
BAD_DATES = ("2016-02-30", "2017-13-01", "2017-06-31", "31.04.2017", "2018-02-29")
# The deliberate bad rows, each kind max(1, rows // 800) times (about 1% in all).
BAD_KINDS = ("unknown_product", "empty_partner", "bad_date", "quantity_zero",
             "quantity_fraction", "customer_typo", "duplicate_id", "ragged")
SALES_REPS = ("A. Wolf", "B. Neumann", "C. Schröder", "D. Zimmermann", "E. Braun", "F. Krüger",
              "G. Hartmann", "H. Lange", "I. Schmitt", "J. Werner", "K. Lehmann", "L. Köhler")

CHURN_PARTNER = "P-014"  # churn above 10% from July 2016 to June 2017: a sustained finding
CHURN_WINDOW = (date(2016, 7, 1), date(2017, 6, 30))
PAYMENT_PARTNER = "P-012"  # late payers for two quarters only: flagged, not sustained
PAYMENT_WINDOW = (date(2017, 1, 1), date(2017, 6, 30))
USAGE_PARTNER = "P-005"  # one quarter of low usage: flagged once
USAGE_WINDOW = (date(2017, 7, 1), date(2017, 9, 30))


# --------------------------------------------------------------------------- sizing


def estimate(year: int, row: dict) -> Decimal:
    """Rough points of one good row under the invented values of its year (0 if unscored)."""
    if row["signed"] < POINTS_START:
        return Decimal(0)
    values, product = SIZING[year], row["product"]
    qty = row["quantity"] or 1
    if product in values["mobile"]:
        new, existing = values["mobile"][product]
        return Decimal((existing if row["customer"] == "existing" else new) * qty)
    if product in values["fixed"]:
        return Decimal(values["fixed"][product] * qty)
    if product in (DP, DP_PRO) and values[product]:
        per, cap = values[product]
        return Decimal(min(per * qty, cap))
    if product == UNITE:
        return min(UNITE_RATE * row["pool_gb"], values[UNITE])
    return Decimal(0)


def scale_row(row: dict, factor: Decimal) -> None:
    """Scale a row's volume (quantity or pool size) by `factor`, keeping it plausible."""
    if row["product"] == UNITE:
        gb = (row["pool_gb"] * factor).quantize(Decimal("0.1"))
        row["pool_gb"] = max(gb, Decimal("0.5"))
    else:
        row["quantity"] = max(1, int((row["quantity"] * factor).to_integral_value()))


def fit_to_target(year: int, rows: list[dict], target: Decimal) -> None:
    """Scale the volumes of one partner-year until its estimated points are near `target`."""
    for _ in range(6):
        total = sum(estimate(year, r) for r in rows)
        if total == 0 or abs(total - target) <= target / 50:
            return
        factor = target / total
        for row in rows:
            scale_row(row, factor)


# --------------------------------------------------------------------------- contracts


def random_day(rng: random.Random, first: date, last: date) -> date:
    """A uniformly drawn day in [first, last]."""
    return first + timedelta(days=rng.randint(0, (last - first).days))


def signed_day(rng: random.Random, year: int) -> date:
    """The signing day of a contract in `year`; a few 2016 ones fall before the points start."""
    if year == 2016:
        if rng.random() < 0.04:
            return random_day(rng, date(2016, 1, 15), date(2016, 2, 29))
        return random_day(rng, POINTS_START, date(2016, 12, 31))
    if year == 2018:
        return random_day(rng, date(2018, 1, 1), LAST_DAY)
    return random_day(rng, date(year, 1, 1), date(year, 12, 31))


def base_volume(rng: random.Random, product: str) -> tuple[int, Decimal]:
    """A plausible (quantity, pool_gb) before sizing."""
    if product in MOBILE:
        return 1 + min(int(rng.expovariate(1 / 3)), 30), Decimal(0)
    if product in FIXED:
        return rng.choice((1, 1, 1, 1, 2, 2, 3, 5)), Decimal(0)
    if product in (DP, DP_PRO):
        return rng.randint(3, 30), Decimal(0)
    gb = Decimal(rng.choice((5, 10, 20, 25, 50, 100, 150, 200, 250, 500, 750, 1_000)))
    if rng.random() < 0.2:
        gb += Decimal(rng.choice(("0.2", "0.5", "0.8")))
    return 1, gb


def new_contract(rng: random.Random, partner: tuple, year: int) -> dict:
    """One good contract row of `partner` signed in `year`."""
    mix = MIX[year]
    product = rng.choices(tuple(mix), weights=tuple(mix.values()))[0]
    quantity, pool_gb = base_volume(rng, product)
    customer = "new" if rng.random() < (0.45 if product in MOBILE else 0.6) else "existing"
    if rng.random() < 0.01:
        customer = ""  # an empty cell takes the declared default, `new`
    first = int(partner[0][2:]) % 9  # each partner has three salespeople of its own
    reps = SALES_REPS[first:first + 3]
    return {
        "partner_id": partner[0], "partner_name": partner[1], "signed": signed_day(rng, year),
        "product": product, "customer": customer, "quantity": quantity, "pool_gb": pool_gb,
        "sales_rep": rng.choice(reps), "kind": "good",
    }


def targets(rng: random.Random, scale: Decimal) -> dict[tuple[str, int], Decimal]:
    """The designed points of every partner-year."""
    out = {}
    for partner in PARTNERS:
        for year, tier in zip(YEARS, partner[3:]):
            low, high = TARGET_BANDS[tier]
            value = Decimal(rng.randint(low, high)) * scale
            out[partner[0], year] = value * PACE_2018 if year == 2018 else value
    return out


def allocate(total: int, weights: dict) -> dict:
    """Share `total` rows out in proportion to `weights` (largest remainder, at least 1 each)."""
    whole = sum(weights.values())
    raw = {k: Decimal(total) * w / whole for k, w in weights.items()}
    counts = {k: max(1, int(v)) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: (-(raw[k] - int(raw[k])), k))
    for key in by_remainder[: max(0, total - sum(counts.values()))]:
        counts[key] += 1
    while sum(counts.values()) > total:  # the floor of 1 overshot: take from the largest
        counts[max(counts, key=lambda k: (counts[k], k))] -= 1
    return counts


def good_rows(rng: random.Random, n_good: int, scale: Decimal) -> list[dict]:
    """All good contract rows, sized to the designed tiers, in signing order."""
    goals = targets(rng, scale)
    counts = allocate(n_good, goals)
    rows = []
    for partner in PARTNERS:
        for year in YEARS:
            batch = [new_contract(rng, partner, year) for _ in range(counts[partner[0], year])]
            fit_to_target(year, batch, goals[partner[0], year])
            rows.extend(batch)
    rows.sort(key=lambda r: (r["signed"], r["partner_id"], r["product"]))
    return rows


def make_bad(kind: str, nth: int, source: dict) -> dict:
    """The `nth` deliberately bad row of `kind`, derived from a good `source` row."""
    row = dict(source, kind=kind)
    if kind == "unknown_product":
        row.update(product=UNKNOWN_PRODUCTS[nth % len(UNKNOWN_PRODUCTS)], pool_gb=Decimal(0))
    elif kind == "empty_partner":
        row.update(partner_id="", partner_name="")
    elif kind == "bad_date":
        row["signed"] = BAD_DATES[nth % len(BAD_DATES)]
    elif kind == "quantity_zero":
        row["quantity"] = 0
    elif kind == "quantity_fraction":
        row["quantity"] = "2.5"
    elif kind == "customer_typo":
        row["customer"] = "nwe"
    elif kind == "duplicate_id":
        row["duplicate_of"] = source
    return row


def with_bad_rows(rng: random.Random, rows: list[dict], per_kind: int) -> list[dict]:
    """Insert `per_kind` bad rows of every kind, each right after the good row it was made from."""
    # Only rows in force are copied, so each bad row fails for its own reason alone.
    eligible = [i for i, row in enumerate(rows) if row["signed"] >= POINTS_START]
    picks = rng.sample(eligible, per_kind * len(BAD_KINDS))
    after: dict[int, list[dict]] = {}
    for i, index in enumerate(picks):
        nth, kind = divmod(i, len(BAD_KINDS))
        after.setdefault(index, []).append(make_bad(BAD_KINDS[kind], nth, rows[index]))
    out = []
    for index, row in enumerate(rows):
        out.append(row)
        out.extend(after.get(index, ()))
    return out


def number_rows(rows: list[dict]) -> None:
    """Give every row its contract id; a duplicate repeats the id of the row it copies."""
    for n, row in enumerate(rows, start=1):
        row["contract_id"] = f"C-{n:06d}"
    for row in rows:
        if row["kind"] == "duplicate_id":
            row["contract_id"] = row.pop("duplicate_of")["contract_id"]


def contract_cells(row: dict) -> list[str]:
    """The CSV cells of one row; a ragged row splits the partner name into two cells."""
    quantity = "" if row["product"] == UNITE and row["quantity"] == 1 else str(row["quantity"])
    pool = "" if row["product"] != UNITE else format_gb(row["pool_gb"])
    name = row["partner_name"]
    names = [name]
    if row["kind"] == "ragged":
        names = name.split(" ", 1) if " " in name else [name, ""]
    return [row["contract_id"], row["partner_id"], *names, str(row["signed"]), row["product"],
            row["customer"], quantity, pool, row["sales_rep"]]


def format_gb(value: Decimal) -> str:
    """`250` for whole GB, `12.5` otherwise."""
    return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else str(value)


# --------------------------------------------------------------------------- quality


def month_end(year: int, month: int) -> date:
    """The last day of a month."""
    return date(year, month, calendar.monthrange(year, month)[1])


def month_label(day: date) -> str:
    """The month as an operator labels it: `2016-04`."""
    return f"{day.year:04d}-{day.month:02d}"


def in_window(day: date, window: tuple[date, date]) -> bool:
    """Whether `day` lies in the closed interval `window`."""
    return window[0] <= day <= window[1]


def report(rng: random.Random, row: dict, day: date) -> dict:
    """One monthly quality report of a contract."""
    pid = row["partner_id"]
    churn = 0.25 if pid == CHURN_PARTNER and in_window(day, CHURN_WINDOW) else 0.005
    missed = 0.3 if pid == PAYMENT_PARTNER and in_window(day, PAYMENT_WINDOW) else 0.004
    mean = 25 if pid == USAGE_PARTNER and in_window(day, USAGE_WINDOW) else 72
    usage = min(100.0, max(0.0, rng.gauss(mean, 12)))
    return {"partner_id": pid, "contract_id": row["contract_id"], "reported": month_label(day),
            "missed_payment": "true" if rng.random() < missed else "false",
            "usage_pct": f"{usage:.1f}", "cancelled": "true" if rng.random() < churn else "false"}


def contract_reports(rng: random.Random, row: dict) -> list[dict]:
    """Up to nine monthly reports of one contract, ending with its cancellation."""
    out, year, month = [], row["signed"].year, row["signed"].month
    for _ in range(9):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        day = month_end(year, month)
        if day > LAST_DAY:
            break
        out.append(report(rng, row, day))
        if out[-1]["cancelled"] == "true":
            break
    return out


QUALITY_BAD = (
    {"usage_pct": "140"},
    {"reported": "2017-13"},
    {"missed_payment": "vielleicht"},
    {"contract_id": ""},
)
UNKNOWN_CONTRACT = "C-999999"  # in no export: a report on it is set apart as an unknown contract


def quality_rows(rng: random.Random, contracts: list[dict]) -> list[dict]:
    """Monthly reports for a sample of scored mobile contracts, plus a few bad rows."""
    out = []
    for row in contracts:
        if row["kind"] != "good" or row["product"] not in MOBILE or row["signed"] < POINTS_START:
            continue
        watched = row["partner_id"] in (CHURN_PARTNER, PAYMENT_PARTNER, USAGE_PARTNER)
        if rng.random() < (0.6 if watched else 0.15):
            out.extend(contract_reports(rng, row))
    out.sort(key=lambda r: (r["reported"], r["contract_id"]))
    for i, change in enumerate(QUALITY_BAD):
        index = (i + 1) * len(out) // (len(QUALITY_BAD) + 1)
        out.insert(index, dict(out[index], **change))
    # Reports the program does not count, each set apart with its reason: a contract that is
    # unscored (an unknown product), one whose row is rejected (a bad date), one in no export.
    unscored = next(r for r in contracts if r["kind"] == "unknown_product")
    rejected = next(r for r in contracts if r["kind"] == "bad_date")
    for i, contract_id in enumerate((unscored["contract_id"], rejected["contract_id"], UNKNOWN_CONTRACT)):
        index = (2 * i + 1) * len(out) // 6
        out.insert(index, dict(out[index], contract_id=contract_id))
    return out


# --------------------------------------------------------------------------- output


def csv_text(header: tuple[str, ...], rows: list[list[str]]) -> str:
    """CSV with `\\n` line endings, quoting only where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> dict[str, str]:
    """The three demo files as {file name: text}."""
    rng = random.Random(seed)
    per_kind = max(1, rows // 800)
    n_good = rows - per_kind * len(BAD_KINDS)
    contracts = good_rows(rng, n_good, Decimal(rows) / DEFAULT_ROWS)
    contracts = with_bad_rows(rng, contracts, per_kind)
    number_rows(contracts)
    legacy = [[p[0], p[2]] for p in PARTNERS if p[2]] + [list(LEGACY_ONLY)]
    quality = quality_rows(rng, contracts)
    return {
        "contracts.csv": csv_text(CONTRACT_COLUMNS, [contract_cells(r) for r in contracts]),
        "legacy.csv": csv_text(LEGACY_COLUMNS, legacy),
        "quality.csv": csv_text(QUALITY_COLUMNS, [[q[c] for c in QUALITY_COLUMNS] for q in quality]),
    }


def write(out_dir: Path, rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> list[Path]:
    """Generate and write the demo files into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generate(rows, seed).items():
        path = out_dir / name
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: parse the options and write the files."""
    parser = argparse.ArgumentParser(description="Generate the O2 Business demo data.")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="contract rows (default 4000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 2016)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output folder (default: this folder)")
    args = parser.parse_args(argv)
    if args.rows < 200:
        parser.error("--rows must be at least 200 (every partner needs a row per year)")
    for path in write(args.out, args.rows, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

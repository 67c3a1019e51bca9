"""Progress: the CSV source tells how much of the file it has read, for the progress bar."""
from engine.readers import open_rows


def test_csv_fraction_read_grows_to_one(tmp_path):
    data = tmp_path / "c.csv"
    with open(data, "w", encoding="utf-8") as f:
        f.write("contract_id,partner_id\n")
        for n in range(200_000):
            f.write(f"C{n:07d},P{n % 40:03d}\n")
    seen = []
    with open_rows(data) as source:
        for i, _ in enumerate(source):
            if i % 50_000 == 0:
                seen.append(source.fraction_read())
        end = source.fraction_read()
    assert 0 <= seen[0] < seen[-1] < 1
    assert end == 1.0
    assert seen == sorted(seen)

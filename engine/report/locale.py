"""A statement's words, numbers and dates in German or English.

Numbers, percentages and dates are formatted by Babel (CLDR data) for the locale, exactly: a
Decimal keeps every digit it has (no rounding, `decimal_quantization=False`). The labels are the
statement's own texts, one table per language; the program's words (rule, tier, table and KPI
names, the policy's rule) are shown as the ruleset writes them.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal

LOCALES = {"en": "en_GB", "de": "de_DE"}  # the statement's language -> the CLDR locale it formats by
DEFAULT = "en"

LABELS = {
    "en": {
        "title": "Points statement",
        "partner": "Partner",
        "period": "Period",
        "program": "Program",
        "run": "Run",
        "run_now": "scored from the inputs below",
        "inputs": "Inputs",
        "engine": "Engine version",
        "recorded": "recorded",
        "summary": "Summary",
        "points_rules": "Points from the rules",
        "adjustments": "Adjustments",
        "total": "Total points",
        "earned": "Tier earned by the points",
        "status": "Status held in the period",
        "by_rule": "Points by rule",
        "rule": "Rule",
        "points": "Points",
        "contracts": "Contracts",
        "table_row": "table row",
        "source": "Source",
        "no_points": "No contract earned points in this period.",
        "adjustment_reason": "Reason",
        "author": "By",
        "no_adjustments": "No adjustments.",
        "contracts_title": "Contracts behind the points",
        "contracts_all": "all {n} scored contracts",
        "contracts_top": "the {shown} with the most points of {n} scored contracts",
        "contracts_more": "and {n} more contracts with {points} points",
        "unscored": "{n} further contracts of the period earn no points (see the run's contracts file for each reason).",
        "row": "Row",
        "contract": "Contract",
        "signed": "Signed",
        "product": "Product",
        "rules_paid": "Rules that paid",
        "version": "Version",
        "tiers": "Tier against the thresholds",
        "tier": "Tier",
        "from": "from",
        "reached": "reached",
        "not_reached": "not reached",
        "tiers_of": "Thresholds of version {version}, in force at the end of the period.",
        "no_tiers": "No version with tiers is in force at the end of the period.",
        "review": "Status and review",
        "held": "Status held",
        "held_since": "since the {period} review (before it: {before})",
        "held_kept": "kept at the {period} review",
        "origin": "How it came about",
        "target": "Target to keep the status",
        "needed_keep": "Points still needed to keep {status}",
        "needed_next": "Points still needed to reach {tier}",
        "top_tier": "{status} is the highest tier.",
        "decision": "Review at the end of the period",
        "decision_after": "{after} for {next}",
        "under_way": "The period is under way: no review yet.",
        "policy": "Policy",
        "policy_of": "review of version {version}",
        "policy_rule": "Decisive rule",
        "no_review": "No status review covers this period.",
        "quality": "Quality",
        "quality_note": "Quality flags are reported beside the points: they do not change points or tiers.",
        "no_flags": "No quality flag in this period.",
        "no_quality": "No quality reports were given.",
        "kpi": "KPI",
        "value": "Value",
        "threshold": "Flagged",
        "above": "above {value}",
        "below": "below {value}",
        "reports": "Reports",
        "ruleset": "Ruleset",
        "sha256": "SHA-256",
        "effective": "in force from",
        "scored_by": "Versions that scored the contracts",
        "page": "Page",
        "of": "of",
    },
    "de": {
        "title": "Punkteabrechnung",
        "partner": "Partner",
        "period": "Zeitraum",
        "program": "Programm",
        "run": "Lauf",
        "run_now": "aus den folgenden Eingaben berechnet",
        "inputs": "Eingaben",
        "engine": "Engine-Version",
        "recorded": "erfasst",
        "summary": "Übersicht",
        "points_rules": "Punkte aus den Regeln",
        "adjustments": "Korrekturen",
        "total": "Punkte gesamt",
        "earned": "Mit den Punkten erreichte Stufe",
        "status": "Status im Zeitraum",
        "by_rule": "Punkte nach Regel",
        "rule": "Regel",
        "points": "Punkte",
        "contracts": "Verträge",
        "table_row": "Tabellenzeile",
        "source": "Quelle",
        "no_points": "Kein Vertrag hat in diesem Zeitraum Punkte erhalten.",
        "adjustment_reason": "Grund",
        "author": "Von",
        "no_adjustments": "Keine Korrekturen.",
        "contracts_title": "Verträge hinter den Punkten",
        "contracts_all": "alle {n} bepunkteten Verträge",
        "contracts_top": "die {shown} Verträge mit den meisten Punkten von {n} bepunkteten Verträgen",
        "contracts_more": "und {n} weitere Verträge mit {points} Punkten",
        "unscored": "{n} weitere Verträge des Zeitraums erhalten keine Punkte (den Grund nennt die Vertragsdatei des Laufs).",
        "row": "Zeile",
        "contract": "Vertrag",
        "signed": "Unterzeichnet",
        "product": "Produkt",
        "rules_paid": "Regeln mit Punkten",
        "version": "Version",
        "tiers": "Stufe gegen die Schwellen",
        "tier": "Stufe",
        "from": "ab",
        "reached": "erreicht",
        "not_reached": "nicht erreicht",
        "tiers_of": "Schwellen der Version {version}, gültig am Ende des Zeitraums.",
        "no_tiers": "Am Ende des Zeitraums gilt keine Version mit Stufen.",
        "review": "Status und Überprüfung",
        "held": "Status",
        "held_since": "seit der Überprüfung {period} (davor: {before})",
        "held_kept": "bestätigt bei der Überprüfung {period}",
        "origin": "Herkunft",
        "target": "Ziel für den Erhalt des Status",
        "needed_keep": "Noch nötige Punkte für den Erhalt von {status}",
        "needed_next": "Noch nötige Punkte für {tier}",
        "top_tier": "{status} ist die höchste Stufe.",
        "decision": "Überprüfung am Ende des Zeitraums",
        "decision_after": "{after} für {next}",
        "under_way": "Der Zeitraum läuft noch: noch keine Überprüfung.",
        "policy": "Regelwerk",
        "policy_of": "Überprüfung der Version {version}",
        "policy_rule": "Entscheidende Regel",
        "no_review": "Für diesen Zeitraum gibt es keine Statusüberprüfung.",
        "quality": "Qualität",
        "quality_note": "Qualitätsmerkmale stehen neben den Punkten: Sie ändern weder Punkte noch Stufen.",
        "no_flags": "Kein Qualitätsmerkmal in diesem Zeitraum.",
        "no_quality": "Es wurden keine Qualitätsberichte angegeben.",
        "kpi": "Kennzahl",
        "value": "Wert",
        "threshold": "Markiert",
        "above": "über {value}",
        "below": "unter {value}",
        "reports": "Berichte",
        "ruleset": "Regelwerk",
        "sha256": "SHA-256",
        "effective": "gültig ab",
        "scored_by": "Versionen, nach denen die Verträge bepunktet wurden",
        "page": "Seite",
        "of": "von",
    },
}


class Words:
    """The labels and the number and date formats of one language (`en` or `de`)."""

    def __init__(self, language: str):
        if language not in LOCALES:
            raise ValueError(f"unknown locale {language!r}: use one of {', '.join(sorted(LOCALES))}")
        self.language = language
        self.locale = LOCALES[language]
        self.labels = LABELS[language]

    def __call__(self, key: str, **values) -> str:
        text = self.labels[key]
        return text.format(**values) if values else text

    def number(self, value) -> str:
        """A number with the locale's grouping and decimal sign, every digit kept: 7,512.5 / 7.512,5."""
        from babel.numbers import format_decimal

        if value is None:
            return ""
        return format_decimal(Decimal(value), locale=self.locale, decimal_quantization=False)

    def signed(self, value) -> str:
        """A number with its sign, for adjustments: +250 / -1,000."""
        text = self.number(value)
        return text if Decimal(value) < 0 else "+" + text

    def percent(self, fraction) -> str:
        """A share (0.05) as a percentage: 5% / 5 %."""
        from babel.numbers import format_percent

        return format_percent(Decimal(fraction), locale=self.locale, decimal_quantization=False)

    def date(self, day: date | None) -> str:
        """A date in the locale's long form: 30 June 2017 / 30. Juni 2017."""
        from babel.dates import format_date

        return "" if day is None else format_date(day, format="long", locale=self.locale)

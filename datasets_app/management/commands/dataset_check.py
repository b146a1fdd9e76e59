"""Check a JSONL training file from the command line, as the upload page does.

    python manage.py dataset_check FILE [--model M] [--method supervised|dpo]

Prints every error as `line N: message`, the warnings, the statistics and the cost; exits 1 when
there is an error, 0 otherwise.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from datasets_app.costs import DEFAULT_MODEL, estimate
from datasets_app.validation import DPO, SUPERVISED, format_problem, validate_file


class Command(BaseCommand):
    help = "Validate a JSONL fine-tuning file: line errors, warnings, token statistics and cost."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--model", default=DEFAULT_MODEL)
        parser.add_argument("--method", choices=[SUPERVISED, DPO], default=SUPERVISED)

    def handle(self, *args, file: str, model: str, method: str, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        report = validate_file(path, method=method, model=model).to_dict()
        stats = report["stats"]
        for problem in report["errors"]:
            self.stdout.write(f"error: {format_problem(problem)}")
        if report["error_count"] > len(report["errors"]):
            self.stdout.write(f"error: ... and {report['error_count'] - len(report['errors'])} more errors")
        for problem in report["warnings"]:
            self.stdout.write(f"warning: {format_problem(problem)}")
        if report["warning_count"] > len(report["warnings"]):
            self.stdout.write(f"warning: ... and {report['warning_count'] - len(report['warnings'])} more warnings")
        self.stdout.write(f"examples: {stats.get('n_examples', 0)}")
        if stats.get("n_counted"):
            cost = estimate(n_examples=stats["n_examples"], tokens_per_example_capped_total=stats["tokens_capped_total"],
                            model=model)
            self.stdout.write(f"tokens: {stats['total_tokens']} total, per example min {stats['tokens_min']}, "
                              f"median {stats['tokens_median']:g}, max {stats['tokens_max']} (limit {stats['limit']})")
            self.stdout.write(f"over the limit: {stats['n_over']}; exact duplicates: {stats['n_duplicates']}")
            price = f"${cost.cost_usd}" if cost.cost_usd is not None else "unknown (no price for this model)"
            self.stdout.write(f"estimated cost: {price} for {cost.billed_tokens} billed tokens "
                              f"({cost.n_epochs} epochs, prices of {cost.price_date})")
        self.stdout.write(f"errors: {report['error_count']}, warnings: {report['warning_count']}")
        if not report["ok"]:
            raise SystemExit(1)

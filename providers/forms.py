from __future__ import annotations

from django import forms

from providers.models import DEFAULT_LIMITS, MAX_CONCURRENT_LIMIT, MAX_PER_MINUTE_LIMIT, Connection

KIND_HELP: dict[str, str] = {
    Connection.Kind.OPENAI: "OpenAI's own API (api.openai.com). Paste an API key from platform.openai.com; "
    "leave the base URL blank.",
    Connection.Kind.OPENAI_COMPATIBLE: "Any server that speaks OpenAI's fine-tuning API at another address "
    "(another fineweb's local provider, a self-hosted service). Give its base URL, ending in /v1, and its key.",
    Connection.Kind.TOGETHER: "Together AI (api.together.ai): open models such as Llama and Qwen. Paste an API key "
    "from api.together.ai; leave the base URL blank.",
    Connection.Kind.LOCAL: "Trains a small open model on this server's own machines. No key needed.",
}
LIMIT_DEFAULTS_TEXT = "; ".join(
    f"{label} {DEFAULT_LIMITS[k][0]} at once and {DEFAULT_LIMITS[k][1]} a minute"
    for k, label in Connection.Kind.choices
    if k in DEFAULT_LIMITS
)
ADDABLE_KINDS = [(k, label) for k, label in Connection.Kind.choices if k != Connection.Kind.LOCAL]


class ConnectionForm(forms.Form):
    kind = forms.ChoiceField(choices=ADDABLE_KINDS, widget=forms.RadioSelect)
    name = forms.CharField(
        max_length=100, help_text="What your team will see in the launch form, e.g. “OpenAI (prod)”."
    )
    base_url = forms.CharField(
        max_length=300,
        required=False,
        label="Base URL",
        help_text="Leave blank for OpenAI and Together. For another server: its address ending in /v1.",
    )
    api_key = forms.CharField(
        required=False,
        label="API key",
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted; shown afterwards only as its last four characters.",
    )

    max_concurrent = forms.IntegerField(
        min_value=1,
        max_value=MAX_CONCURRENT_LIMIT,
        required=False,
        label="Requests at once",
        help_text="How many calls an evaluation run keeps in flight on this connection. "
        "Leave blank for the provider's default: " + LIMIT_DEFAULTS_TEXT + ".",
    )
    per_minute = forms.IntegerField(
        min_value=1,
        max_value=MAX_PER_MINUTE_LIMIT,
        required=False,
        label="Requests per minute",
        help_text="At most this many calls start in any minute; set it to your plan's limit at the "
        "provider. fineweb also waits whenever the provider answers “too many requests”.",
    )

    def __init__(self, *args, connection: Connection | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connection = connection
        if connection is not None:
            at_once, per_minute = DEFAULT_LIMITS.get(connection.kind, (None, None))
            self.fields["max_concurrent"].widget.attrs["placeholder"] = str(at_once or "")
            self.fields["per_minute"].widget.attrs["placeholder"] = str(per_minute or "")
            if at_once and per_minute:
                self.fields["max_concurrent"].help_text = (
                    "How many calls an evaluation run keeps in flight on this connection. Leave blank "
                    f"for the default of {connection.get_kind_display()}: {at_once} at once and "
                    f"{per_minute} a minute."
                )
        if connection is not None:
            # The kind of an existing connection stays; its key is never sent back to the browser.
            del self.fields["kind"]
            self.fields[
                "api_key"
            ].help_text = (
                f"Currently {connection.masked_key}. Leave blank to keep it; paste a new key to replace it."
            )
            if connection.is_local:
                del self.fields["api_key"]
                self.fields["base_url"].help_text = (
                    "Leave blank to use this server's built-in provider, or give the /local/v1 URL of "
                    "another server of this installation (one that shares its database)."
                )

    @property
    def kind_help(self) -> list[tuple[str, str, str]]:
        return [(k, label, KIND_HELP[k]) for k, label in ADDABLE_KINDS]

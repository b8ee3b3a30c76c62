"""The operators' documentation in docs/ stays true to the code: a section per provider type, every
`llm-admin` command parses, every setting is documented, README links every page, every quoted error
message exists in the code, and every compose command names a real service."""

from __future__ import annotations

import argparse
import ast
import base64
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from app import catalog
from app.cli import build_parser
from app.crypto import KeyRing
from app.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = ROOT / "docs"
DOCS = sorted(DOCS_DIR.glob("*.md"))
EXPECTED_DOCS = {"deployment.md", "providers.md", "runbook.md", "troubleshooting.md", "security.md"}
README = (ROOT / "README.md").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
OPERATORS = {"|", "||", "&", "&&", ";", ";;", "(", ")", "<", ">", ">>", "<<", "<<<", "2>", "2>&1", ">&"}


def read(path: Path) -> str:
    return path.read_text()


def fenced_blocks(text: str, language: str = "bash") -> list[str]:
    """The bodies of the fenced code blocks in `language`."""
    return [body for lang, body in FENCE.findall(text) if lang == language]


def without_fences(text: str) -> str:
    return FENCE.sub("", text)


def logical_lines(block: str) -> list[str]:
    """Shell lines with backslash-continuations joined."""
    return block.replace("\\\n", " ").splitlines()


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def llm_admin_invocations(line: str) -> list[list[str]]:
    """The argument lists of every `llm-admin ...` a shell line runs (also inside $(...) and after
    `docker compose exec|run SERVICE`), variables (`"$REV"`) replaced by a sample value so that
    argparse can judge the rest."""
    found: list[list[str]] = []
    for inner in SUBSTITUTION.findall(line):
        found.extend(llm_admin_invocations(inner))
    segment: list[str] = []
    for token in [*_tokens(SUBSTITUTION.sub("X", line)), ";"]:
        if token not in OPERATORS:
            segment.append(token)
            continue
        while segment and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", segment[0]):
            segment.pop(0)  # VAR=value before the command
        start = None
        if segment and segment[0].split("/")[-1] == "llm-admin":
            start = 0
        elif (
            segment[:2] == ["docker", "compose"] and {"exec", "run"} & set(segment) and "llm-admin" in segment
        ):
            start = segment.index("llm-admin")
        if start is not None:
            found.append(["1" if "$" in arg else arg for arg in segment[start + 1 :]])
        segment = []
    return found


def block_commands(text: str) -> list[tuple[str, list[str]]]:
    """(line, args) for every llm-admin invocation in the doc's bash blocks."""
    return [
        (line.strip(), args)
        for block in fenced_blocks(text)
        for line in logical_lines(block)
        for args in llm_admin_invocations(line)
    ]


def inline_commands(text: str) -> list[tuple[str, list[str]]]:
    """(span, args) for every inline code span that runs llm-admin with arguments."""
    found = []
    for span in INLINE.findall(without_fences(text)):
        if "llm-admin " in span:
            found.extend((f"`{span}`", args) for args in llm_admin_invocations(span) if args)
    return found


def command_path(args: list[str]) -> tuple[str, ...]:
    """The sub-command an argument list names: ('config', 'apply'), ('monitor',), ..."""
    parsed = build_parser().parse_args(args)
    action = getattr(parsed, "action", None)
    if parsed.command in ("db", "keys"):
        return (parsed.command, str(action))
    return (parsed.command, action) if isinstance(action, str) else (parsed.command,)


def all_doc_commands() -> Iterator[tuple[str, str, list[str]]]:
    for path in DOCS:
        text = read(path)
        for line, args in block_commands(text) + inline_commands(text):
            yield path.name, line, args


def test_the_documentation_pages_exist() -> None:
    assert {p.name for p in DOCS} >= EXPECTED_DOCS


def test_readme_links_every_docs_page_in_its_documentation_section() -> None:
    section = README.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    for path in DOCS:
        assert f"(docs/{path.name})" in section, f"README's Documentation section: link docs/{path.name}"
    assert README.index("## Quick start") < README.index("## Documentation") < README.index("## Settings")


@pytest.mark.parametrize("type_id", catalog.type_ids())
def test_every_provider_type_has_a_setup_section(type_id: str) -> None:
    text = read(DOCS_DIR / "providers.md")
    ptype = catalog.PROVIDER_TYPES[type_id]
    heading = re.search(rf"^## .*\(`{type_id}`\)\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert heading, f"docs/providers.md: add a section '## {ptype.label} (`{type_id}`)'"
    section = heading.group(1)
    for spec in ptype.fields:
        assert f"`{spec.name}`" in section, f"{type_id}: document the field {spec.name}"
    if ptype.key_env:
        assert f"`{ptype.key_env}`" in section, f"{type_id}: name the variable LiteLLM reads"
    if ptype.default_base_url:
        assert ptype.default_base_url in section, f"{type_id}: give the default base URL"
    adds = [args for _, args in block_commands(section)]
    assert any(a[:2] == ["provider", "add"] and type_id in a for a in adds), (
        f"{type_id}: a provider add example"
    )
    assert any(a[:2] == ["model", "add"] for a in adds), f"{type_id}: a model add example"


def names_a_command(args: list[str]) -> bool:
    """True when args are only sub-command names that exist (`llm-admin config export-env`, as prose
    names a command without running it)."""
    parser = build_parser()
    for arg in args:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or arg not in subparsers[0].choices:
            return False
        parser = subparsers[0].choices[arg]
    return bool(args)


@pytest.mark.parametrize(("doc", "line", "args"), list(all_doc_commands()))
def test_every_documented_llm_admin_command_parses(doc: str, line: str, args: list[str], capsys) -> None:
    is_block_line = not line.startswith("`")
    try:
        build_parser().parse_args(args)
    except SystemExit:
        # prose may name a command without its arguments; a command line to run must be complete
        assert not is_block_line and names_a_command(args), (
            f"docs/{doc}: `{line}` is not a valid llm-admin command: {capsys.readouterr().err.strip()}"
        )


def test_the_docs_document_commands_at_all() -> None:
    assert len(list(all_doc_commands())) > 80


def _env_example_variables() -> set[str]:
    return set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))


def _settings_variables() -> set[str]:
    source = (ROOT / "app" / "settings.py").read_text()
    return set(re.findall(r"""env\.get\(\s*["']([A-Z0-9_]+)["']""", source))


def test_every_setting_and_env_example_variable_is_documented() -> None:
    settings = _settings_variables()
    assert {"LLM_ADMIN_ENV", "LLM_ADMIN_SECRET_KEYS", "LITELLM_MASTER_KEY"} <= settings
    documented = "\n".join(read(p) for p in DOCS)
    missing = sorted(v for v in settings | _env_example_variables() if f"`{v}`" not in documented)
    assert missing == [], f"document these in docs/deployment.md: {missing}"


def test_the_settings_table_lists_every_setting_the_code_reads() -> None:
    text = read(DOCS_DIR / "deployment.md")
    table = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    missing = sorted(v for v in _settings_variables() if f"`{v}`" not in table)
    assert missing == [], f"docs/deployment.md#settings: add {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", without_fences(read(path)), re.M)}


def test_links_between_the_docs_resolve() -> None:
    pages = [*DOCS, ROOT / "README.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", without_fences(read(page))):
            if target.startswith(("http://", "https://")):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            assert linked.exists(), f"{page.name}: broken link {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{page.name}: no heading for #{anchor} in {linked.name}"


# --- quoted error messages ------------------------------------------------------------------


def _message_patterns() -> list[tuple[re.Pattern[str], int]]:
    """A regex per string literal in app/ and generator/: f-string fields, %-placeholders and what is
    added to a literal with `+` match any text; prefixes ending at a literal part count too (a message
    quoted without its tail, such as a problem list)."""
    patterns: list[tuple[re.Pattern[str], int]] = []

    def literal(text: str) -> str:
        return ".+?".join(re.escape(p) for p in re.split(r"%[sdr]|%\.\d+f", text))

    for path in sorted([*(ROOT / "app").rglob("*.py"), *(ROOT / "generator").rglob("*.py")]):
        tree = ast.parse(path.read_text())
        inner = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            pieces: list[str | None]
            if id(node) in inner:
                continue  # a piece of an f-string: judged as part of the whole
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                pieces = [node.value]
            elif isinstance(node, ast.JoinedStr):
                pieces = [v.value if isinstance(v, ast.Constant) else None for v in node.values]
            elif (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Add)
                and isinstance(node.left, ast.Constant)
                and isinstance(node.left.value, str)
            ):
                pieces = [node.left.value, None]
            else:
                continue
            for end in range(1, len(pieces) + 1):
                fixed = sum(len(p) for p in pieces[:end] if p)
                if fixed < 4:
                    continue
                last = pieces[end - 1]
                head = [literal(p) if p is not None else ".+?" for p in pieces[: end - 1]]
                regex = "".join([*head, literal(last.rstrip()) if last is not None else ".+?"])
                patterns.append((re.compile(regex, re.S), fixed))
    return patterns


def _code_constants() -> set[str]:
    """Every plain string of 20 characters or more in app/ and generator/ (hints looked up at run time)."""
    return {
        node.value.strip()
        for path in [*(ROOT / "app").rglob("*.py"), *(ROOT / "generator").rglob("*.py")]
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value.strip()) >= 20
    }


def _quoted_messages() -> list[str]:
    text = read(DOCS_DIR / "troubleshooting.md")
    messages = []
    for block in fenced_blocks(text, "text"):
        for line in block.splitlines():
            line = line.strip().removeprefix("- ").strip()
            if line:
                messages.append(line)
    return messages


def test_troubleshooting_quotes_messages() -> None:
    assert len(_quoted_messages()) >= 40


@pytest.mark.parametrize("message", _quoted_messages())
def test_every_message_in_troubleshooting_comes_from_the_code(message: str) -> None:
    stripped = message
    for prefix in ("llm-admin: error: ", "error: ", "warning: "):
        stripped = stripped.removeprefix(prefix)
    candidates = [message, stripped]
    field, sep, rest = stripped.partition(": ")
    if sep and " " not in field:  # "base_url: is required; …" — a FieldError: the field, then its message
        candidates.append(rest)
    # a message whose own text is mostly filled in at run time ("HTTP {status}: {hint} ({body})") must
    # also contain one of the code's longer strings (the hint)
    strong = any(p.fullmatch(c) for p, fixed in _PATTERNS if fixed >= 12 for c in candidates)
    weak = any(p.fullmatch(c) for p, _ in _PATTERNS for c in candidates) and any(
        constant in message for constant in _CONSTANTS
    )
    assert strong or weak, f"docs/troubleshooting.md quotes a message the code does not print: {message!r}"


_PATTERNS = _message_patterns()
_CONSTANTS = _code_constants()


# --- compose and shell snippets --------------------------------------------------------------


def _compose_invocations() -> Iterator[tuple[str, list[str]]]:
    for path in DOCS:
        text = read(path)
        lines = [ln for b in fenced_blocks(text) for ln in logical_lines(b)] + INLINE.findall(
            without_fences(text)
        )
        for line in lines:
            tokens = _tokens(line)
            for i in range(len(tokens) - 1):
                if tokens[i] == "docker" and tokens[i + 1] == "compose":
                    yield path.name, tokens[i + 2 :]


def test_every_docker_compose_command_names_real_services_and_profiles() -> None:
    services = set(COMPOSE["services"])
    profiles = {p for s in COMPOSE["services"].values() for p in s.get("profiles", [])}
    takes_services = {"exec", "run", "restart", "up", "stop", "start", "logs", "build", "ps"}
    options_with_value = {"-e", "-v", "--profile", "-U", "--scale", "-u", "--user", "-w"}
    checked = 0
    for doc, args in _compose_invocations():
        if "--profile" in args:
            assert args[args.index("--profile") + 1] in profiles, f"docs/{doc}: docker compose {args}"
        verbs = [a for a in args if a in takes_services]
        if not verbs:
            continue
        rest = args[args.index(verbs[0]) + 1 :]
        named: list[str] = []
        skip = False
        for arg in rest:
            if skip:
                skip = False
            elif arg in options_with_value:
                skip = True
            elif arg.startswith("-") or "=" in arg:
                continue
            elif arg in OPERATORS:
                break
            else:
                named.append(arg)
                if verbs[0] in ("exec", "run"):
                    break  # the rest is the command run in the container
        for name in named:
            assert name in services, f"docs/{doc}: docker compose {' '.join(args)}: no service {name!r}"
            checked += 1
    assert checked >= 20


def test_the_compose_override_example_names_real_services() -> None:
    blocks = fenced_blocks(read(DOCS_DIR / "deployment.md"), "yaml")
    assert blocks
    for block in blocks:
        override = yaml.safe_load(block)
        assert set(override["services"]) <= set(COMPOSE["services"])


def test_the_env_secret_one_liners_make_values_production_accepts() -> None:
    text = read(DOCS_DIR / "deployment.md")
    values = {}
    for line in logical_lines(fenced_blocks(text)[0]):
        if line.startswith("python3 -c "):
            code = shlex.split(line)[2]
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            name, _, value = done.stdout.strip().partition("=")
            values[name] = value
    assert set(values) == {"POSTGRES_PASSWORD", "LLM_ADMIN_SECRET_KEYS", "LITELLM_MASTER_KEY"}
    assert len(base64.urlsafe_b64decode(values["LLM_ADMIN_SECRET_KEYS"])) == 32
    KeyRing.from_strings([values["LLM_ADMIN_SECRET_KEYS"]])
    settings = load_settings(
        {
            "LLM_ADMIN_ENV": "production",
            "LLM_ADMIN_SECRET_KEYS": values["LLM_ADMIN_SECRET_KEYS"],
            "LITELLM_MASTER_KEY": values["LITELLM_MASTER_KEY"],
            "LLM_ADMIN_DATABASE_URL": f"postgresql+psycopg://llmadmin:{values['POSTGRES_PASSWORD']}@postgres/llmadmin",
        }
    )
    assert settings.master_key.startswith("sk-") and len(settings.master_key) > 40

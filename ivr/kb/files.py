"""Read and write the hand-edited knowledge base in `kb_data/`.

Layout: `topics.yaml` (topics in keypad order) and `articles/<id>.md`, each a Markdown file
whose YAML front matter holds id, title, topic, keywords and sample questions, and whose body
is the spoken answer. Errors name the file and what is wrong, so an editor can fix them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .article import ArticleText

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.S)
MAX_ANSWER_WORDS = 220


class KBFormatError(Exception):
    """One or more knowledge-base files are invalid; `problems` lists `path: what is wrong`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class TopicText:
    id: str
    name: str


@dataclass(frozen=True)
class KnowledgeBase:
    topics: list[TopicText]
    articles: list[ArticleText]
    sources: dict[str, Path]


def read_topics(kb_dir: Path) -> list[TopicText]:
    path = Path(kb_dir) / "topics.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KBFormatError([f"{path}: file not found"]) from None
    except yaml.YAMLError as exc:
        raise KBFormatError([f"{path}: not valid YAML ({_yaml_where(exc)})"]) from None
    problems: list[str] = []
    topics: list[TopicText] = []
    entries = raw.get("topics") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KBFormatError([f"{path}: expected a non-empty list under 'topics'"])
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(f"{path}: topic #{n} must be a mapping with id and name")
            continue
        tid, name = str(entry.get("id", "")), entry.get("name")
        if not ID_RE.match(tid):
            problems.append(f"{path}: topic #{n} has an invalid id {tid!r} (lowercase letters, digits, dashes)")
        elif tid in seen:
            problems.append(f"{path}: topic id {tid!r} appears twice")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{path}: topic {tid!r} needs a name")
        seen.add(tid)
        topics.append(TopicText(id=tid, name=str(name or "").strip()))
    if len(topics) > 9:
        problems.append(f"{path}: at most 9 topics fit on the keypad, found {len(topics)}")
    if problems:
        raise KBFormatError(problems)
    return topics


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def _str_list(value: Any, field: str, path: Path, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        problems.append(f"{path}: '{field}' must be a list of strings")
        return ()
    return tuple(" ".join(str(v).split()) for v in value if str(v).strip())


def parse_article(path: Path, topic_ids: set[str] | None = None) -> ArticleText:
    """Parse one article file; raise KBFormatError listing everything wrong with it."""
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise KBFormatError([f"{path}: must start with YAML front matter between '---' lines"])
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise KBFormatError([f"{path}: front matter is not valid YAML ({_yaml_where(exc)})"]) from None
    if not isinstance(meta, dict):
        raise KBFormatError([f"{path}: front matter must be a mapping of fields"])
    problems: list[str] = []
    aid = str(meta.get("id", "")).strip()
    if not ID_RE.match(aid):
        problems.append(f"{path}: 'id' is missing or invalid (lowercase letters, digits, dashes)")
    elif aid != path.stem:
        problems.append(f"{path}: id {aid!r} must match the file name {path.stem!r}")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(f"{path}: 'title' is missing")
    topic = str(meta.get("topic", "")).strip()
    if not topic:
        problems.append(f"{path}: 'topic' is missing")
    elif topic_ids is not None and topic not in topic_ids:
        problems.append(f"{path}: topic {topic!r} is not in topics.yaml ({', '.join(sorted(topic_ids))})")
    questions = _str_list(meta.get("questions"), "questions", path, problems)
    if not questions and "questions" not in meta:
        problems.append(f"{path}: 'questions' needs at least one sample question")
    keywords = _str_list(meta.get("keywords"), "keywords", path, problems)
    spoken_title = meta.get("spoken_title", "")
    if not isinstance(spoken_title, str):
        problems.append(f"{path}: 'spoken_title' must be text (the title as said in a sentence)")
        spoken_title = ""
    unknown = set(meta) - {"id", "title", "spoken_title", "topic", "questions", "keywords"}
    if unknown:
        problems.append(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    answer = " ".join(match.group(2).split())
    if not answer:
        problems.append(f"{path}: the spoken answer (text after the front matter) is empty")
    elif len(answer.split()) > MAX_ANSWER_WORDS:
        problems.append(f"{path}: the answer has {len(answer.split())} words; "
                        f"keep it under {MAX_ANSWER_WORDS} for the phone")
    if problems:
        raise KBFormatError(problems)
    return ArticleText(id=aid, title=" ".join(str(title).split()), topic=topic, answer=answer,
                       questions=questions, keywords=keywords, spoken_title=" ".join(spoken_title.split()))


def read_knowledge_base(kb_dir: Path) -> KnowledgeBase:
    """Read and validate everything; raise KBFormatError with every problem found, not just the first."""
    kb_dir = Path(kb_dir)
    if not kb_dir.is_dir():
        raise KBFormatError([f"{kb_dir}: knowledge-base folder not found"])
    problems: list[str] = []
    try:
        topics = read_topics(kb_dir)
    except KBFormatError as exc:
        problems.extend(exc.problems)
        topics = []
    topic_ids = {t.id for t in topics} if topics else None
    articles: list[ArticleText] = []
    sources: dict[str, Path] = {}
    files = sorted((kb_dir / "articles").glob("*.md"))
    if not files:
        problems.append(f"{kb_dir / 'articles'}: no article files (*.md) found")
    for path in files:
        try:
            article = parse_article(path, topic_ids)
        except KBFormatError as exc:
            problems.extend(exc.problems)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read ({exc})")
            continue
        if article.id in sources:
            problems.append(f"{path}: id {article.id!r} is also used by {sources[article.id]}")
            continue
        sources[article.id] = path
        articles.append(article)
    if problems:
        raise KBFormatError(problems)
    return KnowledgeBase(topics=topics, articles=articles, sources=sources)


def read_articles(kb_dir: Path) -> list[ArticleText]:
    return read_knowledge_base(kb_dir).articles


def add_sample_question(kb_dir: Path, article_id: str, question: str) -> Path:
    """Append a caller's phrasing to an article's `questions` in its file; returns the file written.

    The body (spoken answer) is kept byte for byte; the front matter is rewritten in a stable order.
    """
    question = " ".join(question.split())
    if not question:
        raise ValueError("the question is empty")
    if not ID_RE.match(article_id):
        raise ValueError(f"invalid article id {article_id!r}")
    path = Path(kb_dir) / "articles" / f"{article_id}.md"
    if not path.is_file():
        raise ValueError(f"no article {article_id!r} in {Path(kb_dir) / 'articles'}")
    parse_article(path)  # refuse to rewrite a file that is already broken
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER_RE.match(text)
    assert match is not None
    meta = yaml.safe_load(match.group(1))
    existing = [str(q) for q in meta.get("questions") or []]
    if question.lower() in {q.lower() for q in existing}:
        return path
    meta["questions"] = existing + [question]
    ordered = {k: meta[k] for k in ("id", "title", "spoken_title", "topic", "keywords", "questions") if k in meta}
    front = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=1000).strip()
    body = text[match.start(2):]
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(f"---\n{front}\n---\n{body}", encoding="utf-8")
    tmp.replace(path)
    return path


# --- Editing from the dashboard: the same format and the same checks as `kb load`. ---

WRITTEN_DIR = "web"  # kb_data/web/<id>.md: the written answer the help page shows (optional)
RETIRED_DIR = "retired"  # kb_data/retired/<id>.md: articles taken out of service, kept for the record
MAX_WRITTEN_CHARS = 20000


def article_text(article: ArticleText) -> str:
    """The file for an article, front matter in the same stable order `add_sample_question` writes."""
    meta: dict[str, Any] = {"id": article.id, "title": article.title}
    if article.spoken_title:
        meta["spoken_title"] = article.spoken_title
    meta["topic"] = article.topic
    if article.keywords:
        meta["keywords"] = list(article.keywords)
    meta["questions"] = list(article.questions)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000).strip()
    return f"---\n{front}\n---\n{article.answer.strip()}\n"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def validate_article(kb_dir: Path, article: ArticleText) -> ArticleText:
    """Check an article exactly as `kb load` would (file format, fields, topic); raise KBFormatError."""
    import tempfile

    topic_ids = {t.id for t in read_topics(Path(kb_dir))}
    if not ID_RE.match(article.id):
        raise KBFormatError([f"id {article.id!r} is invalid (lowercase letters, digits, dashes)"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{article.id}.md"
        path.write_text(article_text(article), encoding="utf-8")
        try:
            return parse_article(path, topic_ids)
        except KBFormatError as exc:
            # Name the article, not the scratch file.
            raise KBFormatError([p.replace(str(path), f"articles/{article.id}.md") for p in exc.problems]) from None


def read_written_answer(kb_dir: Path, article_id: str) -> str | None:
    if not ID_RE.match(article_id):
        return None
    path = Path(kb_dir) / WRITTEN_DIR / f"{article_id}.md"
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_article(kb_dir: Path, article: ArticleText, written: str | None = None, *, new: bool = False) -> Path:
    """Validate and write one article (and its written answer) to `kb_dir`; returns the article file."""
    article = validate_article(kb_dir, article)
    path = Path(kb_dir) / "articles" / f"{article.id}.md"
    if new and (path.exists() or (Path(kb_dir) / RETIRED_DIR / path.name).exists()):
        raise KBFormatError([f"articles/{article.id}.md: an article with id {article.id!r} already exists"])
    if not new and not path.exists():
        raise KBFormatError([f"articles/{article.id}.md: no such article"])
    written = (written or "").strip().replace("\r\n", "\n")
    if len(written) > MAX_WRITTEN_CHARS:
        raise KBFormatError([f"web/{article.id}.md: the written answer is over {MAX_WRITTEN_CHARS} characters"])
    _write_atomically(path, article_text(article))
    web = Path(kb_dir) / WRITTEN_DIR / f"{article.id}.md"
    if written:
        _write_atomically(web, written + "\n")
    elif web.exists():
        web.unlink()
    return path


def retire_article(kb_dir: Path, article_id: str) -> Path:
    """Move an article out of service into `retired/`; returns where it now lives."""
    if not ID_RE.match(article_id):
        raise KBFormatError([f"invalid article id {article_id!r}"])
    path = Path(kb_dir) / "articles" / f"{article_id}.md"
    if not path.is_file():
        raise KBFormatError([f"articles/{article_id}.md: no such article"])
    target = Path(kb_dir) / RETIRED_DIR / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    return target

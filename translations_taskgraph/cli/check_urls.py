"""`explain --check-urls`: the network preflight of a plan's continuation downloads.

Parses each download task's script arguments into `Requirement`s (the files it publishes and the
URL alternatives it tries, in order), probes every URL concurrently with a timeout-bounded HEAD (a
ranged GET of one byte where HEAD is refused or forbidden), never reading a body, and renders a
status / URL / needed-by table; the check fails when a required download has no alternative whose
URLs all answer.
"""

import collections
import concurrent.futures
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from .common import downloads_of

USER_AGENT = "translations-taskgraph-preflight/1.0"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


# ------------------------------------------------------------------------------------------------
# What each download task fetches, from its script arguments.
@dataclass
class Requirement:
    """Files a download needs: satisfied when every URL of one alternative is there."""

    download: str
    names: tuple  # the artifacts the download publishes from it
    alternatives: list  # [[url, ...], ...] tried in order
    labels: list = field(default_factory=list)  # per alternative, how to describe it


def requirements_of(task):
    """The Requirements of one download task, parsed from its argv (PlannedTask.extra_args)."""
    args, found, vocab = list(task.extra_args), [], {}
    i = 0
    while i < len(args):
        flag = args[i]
        if flag == "--file":
            name, url = args[i + 1], args[i + 2]
            found.append(Requirement(task.label, (name,), [[url]], labels=[name]))
            i += 3
        elif flag == "--file-candidates":
            # NAME URL [URL ...]: the first URL that exists is published as NAME.
            name, j = args[i + 1], i + 2
            while j < len(args) and not args[j].startswith("--"):
                j += 1
            urls = args[i + 2 : j]
            found.append(Requirement(task.label, (name,), [[url] for url in urls],
                                     labels=[url.rsplit("/", 1)[-1] for url in urls]))
            i = j
        elif flag in ("--vocab-dir", "--src", "--trg"):
            vocab[flag] = args[i + 1]
            i += 2
        elif flag == "--pin":
            i += 3
        else:
            i += 1
    if "--vocab-dir" in vocab:
        found.append(_vocab_requirement(task.label, vocab["--vocab-dir"], vocab["--src"], vocab["--trg"]))
    return found


def _vocab_requirement(download, base, src, trg):
    base = base.rstrip("/")
    names = (f"vocab.{src}.spm", f"vocab.{trg}.spm")
    return Requirement(
        download, names,
        [[f"{base}/{names[0]}", f"{base}/{names[1]}"], [f"{base}/vocab.spm"]],
        labels=["split vocab", "joint vocab, if no split vocab"],
    )


# ------------------------------------------------------------------------------------------------
# --check-urls: the preflight.
@dataclass(frozen=True)
class Probe:
    url: str
    status: int = 0  # the HTTP status; 0 when no answer
    detail: str = ""

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def missing(self):
        return self.status in (404, 410)


class _KeepMethodRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects with the same method: a HEAD stays a HEAD (urllib would switch to GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


def _open(request, timeout):
    host = urllib.parse.urlsplit(request.full_url).hostname
    handlers = [_KeepMethodRedirect()]
    if host in LOOPBACK_HOSTS:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers).open(request, timeout=timeout)


def probe(url, timeout):
    """HEAD the URL; where HEAD is refused (405/501) or forbidden (401/403: a URL signed for GET
    only, as some storage services issue), fetch its first byte instead. Never reads a body."""
    attempts = [("HEAD", {}), ("GET", {"Range": "bytes=0-0"})]
    for method, headers in attempts:
        request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT, **headers})
        try:
            with _open(request, timeout) as response:
                return Probe(url, response.status, method)
        except urllib.error.HTTPError as e:
            if e.code in (401, 403, 405, 501) and method == "HEAD":
                continue
            return Probe(url, e.code, f"HTTP {e.code} {e.reason}")
        except (OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            return Probe(url, 0, f"{type(reason).__name__}: {reason}")
    return Probe(url, 0, "no answer")


def probe_all(urls, timeout, workers=16):
    """{url: Probe}, probed concurrently; each request is bounded by `timeout` seconds."""
    urls = sorted(set(urls))
    if not urls:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(urls))) as pool:
        return dict(zip(urls, pool.map(lambda url: probe(url, timeout), urls)))


def satisfied(req, probes):
    return any(all(probes[url].ok for url in alternative) for alternative in req.alternatives)


def check_rows(requirements, probes):
    """Table rows (status, url, needed by) and the unsatisfied requirements."""
    needs = collections.defaultdict(list)
    failing_urls = set()
    failed = [req for req in requirements if not satisfied(req, probes)]
    for req in requirements:
        for alternative, label in zip(req.alternatives, req.labels):
            what = ", ".join(req.names) + (f" ({label})" if len(req.alternatives) > 1 else "")
            for url in alternative:
                needs[url].append(f"{req.download}: {what}")
                if req in failed:
                    failing_urls.add(url)
    rows = []
    for url in sorted(needs, key=lambda u: (sorted(needs[u])[0], u)):
        rows.append((_status(probes[url], url in failing_urls), url, "; ".join(sorted(needs[url]))))
    return rows, failed


def _status(result, failing):
    if result.ok:
        return "ok"
    if result.missing:
        return "MISSING" if failing else "absent (not needed)"
    return f"ERROR {result.detail}" if failing else f"unreachable (not needed): {result.detail}"


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header) - 1)]
    out = []
    for row in [header] + rows:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)] + [str(row[-1])]
        out.append("  ".join(cells).rstrip())
    return out


def check_urls(plan, timeout):
    """Probe every URL the download tasks fetch; return (lines, ok)."""
    requirements = [req for task in downloads_of(plan) for req in requirements_of(task)]
    if not requirements:
        return ["URL check: no continuation downloads, nothing to check."], True
    probes = probe_all([url for req in requirements for alt in req.alternatives for url in alt], timeout)
    rows, failed = check_rows(requirements, probes)
    lines = [f"URL check ({len(probes)} URLs, timeout {timeout:g}s each):"]
    lines += table(rows, ("STATUS", "URL", "NEEDED BY"))
    if failed:
        lines.append(f"{len(failed)} required download(s) cannot be satisfied:")
        lines += [f"  {req.download}: {', '.join(req.names)}" for req in failed]
    else:
        lines.append("All required URLs are reachable.")
    return lines, not failed

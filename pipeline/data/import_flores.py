"""FLORES-101 (`flores_dev`, `flores_devtest`): the dataset tarball
`{base}/flores101/dataset/flores101_dataset.tar.gz`, holding
`flores101_dataset/<split>/<code>.<split>` per language, where `<code>` is FLORES's ISO 639-3
code (`rus`, `eng`, `zho_simpl`, ...)."""

from __future__ import annotations

import tarfile

from pipeline.clean.scripts import base_language
from pipeline.common.io import StepError
from pipeline.data.importing import Fetcher, base_url, binary_lines, write_parallel

BASE = ("TRANSLATIONS_FLORES_URL", "https://dl.fbaipublicfiles.com")
SPLITS = ("dev", "devtest")

CODES = {
    "af": "afr", "am": "amh", "ar": "ara", "hy": "hye", "as": "asm", "ast": "ast", "az": "azj", "be": "bel",
    "bn": "ben", "bs": "bos", "bg": "bul", "my": "mya", "ca": "cat", "ceb": "ceb", "hr": "hrv", "cs": "ces",
    "da": "dan", "nl": "nld", "en": "eng", "et": "est", "tl": "tgl", "fil": "tgl", "fi": "fin", "fr": "fra",
    "ff": "ful", "gl": "glg", "lg": "lug", "ka": "kat", "de": "deu", "el": "ell", "gu": "guj", "ha": "hau",
    "he": "heb", "hi": "hin", "hu": "hun", "is": "isl", "ig": "ibo", "id": "ind", "ga": "gle", "it": "ita",
    "ja": "jpn", "jv": "jav", "kea": "kea", "kam": "kam", "kn": "kan", "kk": "kaz", "km": "khm", "ko": "kor",
    "ky": "kir", "lo": "lao", "lv": "lav", "ln": "lin", "lt": "lit", "luo": "luo", "lb": "ltz", "mk": "mkd",
    "ms": "msa", "ml": "mal", "mt": "mlt", "mi": "mri", "mr": "mar", "mn": "mon", "ne": "npi", "nso": "nso",
    "nb": "nob", "no": "nob", "ny": "nya", "oc": "oci", "or": "ory", "om": "orm", "ps": "pus", "fa": "fas",
    "pl": "pol", "pt": "por", "pa": "pan", "ro": "ron", "ru": "rus", "sr": "srp", "sn": "sna", "sd": "snd",
    "sk": "slk", "sl": "slv", "so": "som", "ckb": "ckb", "es": "spa", "sw": "swh", "sv": "swe", "tg": "tgk",
    "ta": "tam", "te": "tel", "th": "tha", "tr": "tur", "uk": "ukr", "umb": "umb", "ur": "urd", "uz": "uzb",
    "vi": "vie", "cy": "cym", "wo": "wol", "xh": "xho", "yo": "yor", "zu": "zul",
}


def flores_code(locale: str) -> str:
    normalized = locale.replace("-", "_").lower()
    if normalized in ("zh", "zh_hans", "zh_cn"):
        return "zho_simpl"
    if normalized in ("zh_hant", "zh_tw", "zh_hk"):
        return "zho_trad"
    code = CODES.get(base_language(locale))
    if code is None:
        raise StepError(f"flores: no FLORES-101 language for {locale!r}")
    return code


def import_parallel(split: str, src: str, trg: str, output_prefix: str, fetcher: Fetcher) -> int:
    if split not in SPLITS:
        raise StepError(f"flores_{split}: expected flores_dev or flores_devtest")
    codes = {src: flores_code(src), trg: flores_code(trg)}
    url = f"{base_url(*BASE)}/flores101/dataset/flores101_dataset.tar.gz"
    archive = fetcher.get(url, "flores101_dataset.tar.gz", what="FLORES-101")
    with tarfile.open(archive, "r:gz") as tar:
        members = {}
        for lang, code in codes.items():
            member = f"flores101_dataset/{split}/{code}.{split}"
            try:
                members[lang] = tar.extractfile(member)
            except KeyError:
                raise StepError(f"flores_{split}: {url} has no {member}") from None
        return write_parallel(output_prefix, src, trg, binary_lines(members[src], src), binary_lines(members[trg], trg),
                              f"flores_{split}")

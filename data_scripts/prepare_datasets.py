#!/usr/bin/env python
"""Download, verify and convert public LTR datasets to Arrow/Parquet, fold by fold.

    python data_scripts/prepare_datasets.py mslr-web10k --root ~/ltr_data
    python data_scripts/prepare_datasets.py mq2008 --root ~/ltr_data --archive ~/Downloads/MQ2008.rar
    python data_scripts/prepare_datasets.py istella-s --root ~/ltr_data --skip-download   # already extracted

Steps: (1) resumable download (HTTP Range) into ROOT/download, (2) SHA-256 check where the checksum is known
(else the digest is printed so you can pin it), (3) extraction (zip, tar.gz; .rar needs `unrar`, `7z` or
`bsdtar` on PATH), (4) conversion of every fold: train fitted with the dataset's objective preset, vali/test with
the training split's fitted objectives. Output: ROOT/NAME/FoldN/{train,vali,test}.parquet.
Datasets behind a licence form (Yahoo! LTR Set 1, and Istella where the mirror is down) print what to download by
hand; pass the file with --archive.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DatasetInfo:
    name: str
    url: str | None
    archive: str
    sha256: str | None
    objectives: str
    folds: list[str] = field(default_factory=lambda: ["Fold1"])
    splits: tuple[str, ...] = ("train", "vali", "test")
    manual: str | None = None


DATASETS: dict[str, DatasetInfo] = {
    "mslr-web10k": DatasetInfo("mslr-web10k", "https://api.onedrive.com/v1.0/shares/s!AtsMfWUz5l8nbOIoJ6Ks0bEMp78/root/content",
                               "MSLR-WEB10K.zip", "2902142ea33f18c59414f654212de5063033b707d5c3939556124b1120d3a0ba",
                               "mslr5", [f"Fold{i}" for i in range(1, 6)]),
    "mslr-web30k": DatasetInfo("mslr-web30k", "https://api.onedrive.com/v1.0/shares/s!AtsMfWUz5l8nbXGPBlwD1rnFdBY/root/content",
                               "MSLR-WEB30K.zip", None, "mslr5", [f"Fold{i}" for i in range(1, 6)]),
    "mq2007": DatasetInfo("mq2007", "https://www.microsoft.com/en-us/research/wp-content/uploads/2016/08/MQ2007.rar",
                          "MQ2007.rar", None, "mq2008", [f"Fold{i}" for i in range(1, 6)]),
    "mq2008": DatasetInfo("mq2008", "https://www.microsoft.com/en-us/research/wp-content/uploads/2016/08/MQ2008.rar",
                          "MQ2008.rar", None, "mq2008", [f"Fold{i}" for i in range(1, 6)]),
    "istella-s": DatasetInfo("istella-s", "http://library.istella.it/dataset/istella-s-letor.tar.gz",
                             "istella-s-letor.tar.gz",
                             "41b21116a3650cc043dbe16f02ee39f4467f9405b37fdbcc9a6a05e230a38981", "label", ["sample"]),
    "yahoo-set1": DatasetInfo("yahoo-set1", None, "ltrc_yahoo.tar.bz2", None, "label", ["."],
                              ("set1.train", "set1.valid", "set1.test"),
                              manual="Yahoo! LTR Challenge data needs the Webscope licence: request 'C14 - Yahoo! "
                                     "Learning to Rank Challenge' at https://webscope.sandbox.yahoo.com/, then pass "
                                     "the archive with --archive."),
}


class PrepareError(RuntimeError):
    """A step failed; the message says what to do."""


def sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for b in iter(lambda: fh.read(chunk), b""):
            h.update(b)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str | None = None, progress: bool = True) -> Path:
    """Resumable download: an existing ``dest.part`` is continued with an HTTP Range request; verified if sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        status = getattr(resp, "status", 200)
        mode = "ab" if have and status == 206 else "wb"
        total = resp.headers.get("Content-Length")
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(total) + (have if mode == "ab" else 0) if total else None,
                       initial=have if mode == "ab" else 0, unit="B", unit_scale=True, desc=dest.name)
        with open(part, mode) as fh:
            while True:
                b = resp.read(1 << 20)
                if not b:
                    break
                fh.write(b)
                if bar is not None:
                    bar.update(len(b))
        if bar is not None:
            bar.close()
    digest = sha256_of(part)
    if sha256 is not None and digest != sha256:
        part.unlink()
        raise PrepareError(f"{dest.name}: SHA-256 mismatch (got {digest}, expected {sha256}); the partial file "
                           f"was removed, run again to re-download")
    if sha256 is None:
        print(f"{dest.name}: sha256 {digest} (no pinned checksum for this dataset)")
    os.replace(part, dest)
    return dest


def extract(archive: Path, out_dir: Path) -> Path:
    """Extract zip / tar(.gz/.bz2) natively, .rar through unrar / 7z / bsdtar."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(out_dir)
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
        with tarfile.open(archive) as t:
            t.extractall(out_dir, filter="data")
    elif name.endswith(".rar"):
        for tool, args in (("unrar", ["x", "-o+", str(archive), str(out_dir) + "/"]),
                           ("7z", ["x", "-y", f"-o{out_dir}", str(archive)]),
                           ("bsdtar", ["-xf", str(archive), "-C", str(out_dir)])):
            if shutil.which(tool):
                subprocess.run([tool, *args], check=True)
                break
        else:
            raise PrepareError(f"{archive}: .rar needs `unrar`, `7z` or `bsdtar` (e.g. apt-get install "
                               f"libarchive-tools); or extract it yourself and pass --skip-download --extracted DIR")
    else:
        raise PrepareError(f"{archive}: unknown archive type")
    return out_dir


def find_fold_dir(root: Path, fold: str, first_split: str) -> Path:
    """The directory under ``root`` holding ``fold/first_split.txt`` (archives nest differently)."""
    for cand in sorted(root.rglob(f"{first_split}.txt")) + sorted(root.rglob(first_split)):
        if fold == "." or cand.parent.name == fold:
            return cand.parent
    raise PrepareError(f"{root}: no {fold}/{first_split}.txt found after extraction")


def convert_folds(info: DatasetInfo, extracted: Path, out_root: Path, folds: list[str] | None = None,
                  fmt: str = "parquet") -> list[Path]:
    """Convert every fold: train fitted with the preset, the other splits with the train file's objectives."""
    from ltr_hyperdpo.data.conversion import convert

    written = []
    for fold in folds or info.folds:
        d = find_fold_dir(extracted, fold, info.splits[0])
        out = out_root / info.name / (fold if fold != "." else "")
        train_out = out / f"train.{fmt}"
        for i, split in enumerate(info.splits):
            src = d / f"{split}.txt" if (d / f"{split}.txt").exists() else d / split
            if not src.exists():
                print(f"{info.name}/{fold}: no {split} split, skipped")
                continue
            std = ("train", "vali", "test")[i]
            dst = out / f"{std}.{fmt}"
            if i == 0:
                convert(src, dst, objectives=info.objectives, progress=True)
            else:
                convert(src, dst, objectives_from=train_out, progress=True)
            written.append(dst)
            print(f"wrote {dst}")
    return written


def prepare(name: str, root: Path, archive: Path | None = None, skip_download: bool = False,
            extracted: Path | None = None, folds: list[str] | None = None) -> list[Path]:
    info = DATASETS[name]
    if extracted is None:
        if archive is None:
            if skip_download:
                archive = root / "download" / info.archive
            elif info.url is None:
                raise PrepareError(info.manual or f"{name}: no public URL; pass --archive")
            else:
                try:
                    archive = download(info.url, root / "download" / info.archive, info.sha256)
                except OSError as e:
                    raise PrepareError(f"{name}: download from {info.url} failed ({e}); download it by hand and "
                                       f"pass --archive") from e
        if not archive.exists():
            raise PrepareError(f"{archive}: not found")
        if info.sha256 and sha256_of(archive) != info.sha256:
            raise PrepareError(f"{archive}: SHA-256 does not match the published archive")
        extracted = extract(archive, root / "raw" / name)
    return convert_folds(info, extracted, root, folds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", choices=sorted(DATASETS))
    p.add_argument("--root", type=Path, default=Path("ltr_data"))
    p.add_argument("--archive", type=Path, help="an already downloaded archive")
    p.add_argument("--extracted", type=Path, help="an already extracted directory (skips download and extraction)")
    p.add_argument("--skip-download", action="store_true")
    p.add_argument("--folds", nargs="*", help="e.g. Fold1 Fold2 (default: all)")
    a = p.parse_args(argv)
    try:
        prepare(a.dataset, a.root, a.archive, a.skip_download, a.extracted, a.folds)
    except PrepareError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

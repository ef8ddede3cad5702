#!/usr/bin/env python3
"""gen_corpus.py: the scan benchmark's message corpus (bench/README.md, "scan").

Writes OUTDIR/<class>/NNNNN.eml for three size classes, about 5 KB, 100 KB
and 2 MB, and OUTDIR/manifest.json.  Deterministic: the same seed and
counts give the same bytes (no clock, no os.urandom; archive and gzip
time stamps are fixed).  Python 3 standard library only.

Each message is what a Japanese company's gateway sees: multipart/mixed
with a text/plain or multipart/alternative (text/plain + text/html) body
in UTF-8, ISO-2022-JP, Shift_JIS or Latin-1, with base64, quoted-printable
or 7bit transfer encodings, RFC 2047 subjects and names, RFC 2231 file
names, and attachments: PDF-like documents with text and binary streams,
zip and tar.gz archives (built with zipfile/tarfile), small ELF and PE
executables (sometimes renamed, sometimes inside an archive), OOXML
(docx/xlsx/xlsm) and OLE2 documents, PNG images and CSV files.  A share of
messages carries phrases of the benchmark policy's keyword lists, bulk
headers, many recipients or a free-mail Reply-To, so that most rules of
bench/scan/policy.ini fire somewhere.

  python3 bench/scan/gen_corpus.py [--seed 5] [--quick] [--n5k N]
      [--n100k N] [--n2m N] OUTDIR
"""
import argparse
import base64
import gzip
import io
import json
import os
import quopri
import random
import struct
import sys
import tarfile
import zipfile
import zlib

CLASSES = (("5k", 5 * 1024), ("100k", 100 * 1024), ("2m", 2 * 1024 * 1024))
DEFAULT_N = {"5k": 1000, "100k": 300, "2m": 40}
QUICK_N = {"5k": 200, "100k": 60, "2m": 12}
ZIP_TIME = (2024, 4, 1, 9, 30, 0)
TAR_MTIME = 1711963800

EN_WORDS = (
    "the of and to in for on with as by at from this that we you our your "
    "please find attached report meeting schedule project budget quarter "
    "sales customer order invoice delivery shipment contract review update "
    "team office product release plan design support service account data "
    "system network security policy change request approval draft final "
    "version document file folder share link access team member manager "
    "department next week monday tuesday friday morning afternoon today "
    "thank regards best kind confirm check let know if any questions "
    "summary figures results analysis market growth target forecast cost "
    "price quote proposal agreement terms conditions payment due date "
    "status issue ticket problem solution fix test build deploy server"
).split()

JA_PHRASES = (
    "いつもお世話になっております。", "ご確認のほどよろしくお願いいたします。",
    "添付の資料をご覧ください。", "来週の打ち合わせの件でご連絡いたしました。",
    "見積書を送付いたします。", "納期について調整させていただきたく存じます。",
    "先日はありがとうございました。", "議事録を共有いたします。",
    "ご不明な点がございましたらお知らせください。", "引き続きよろしくお願いいたします。",
    "請求書の発行日は月末となります。", "システムの更新作業を予定しております。",
    "本件につきまして社内で検討いたします。", "出荷の手配が完了いたしました。",
    "会議室は三階の大会議室です。", "契約書の内容をご確認ください。",
    "東京本社", "大阪支店", "営業部", "経理部", "開発部", "株式会社サンプル商事",
    "第二四半期の売上は前年同期比で増加しました。", "品質管理の手順を見直しました。",
)

JA_NAMES = ("山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健",
            "伊藤 由美", "渡辺 翔", "中村 さくら")
EN_NAMES = ("John Smith", "Mary Johnson", "Robert Brown", "Linda Davis",
            "Michael Wilson", "Susan Clark")

# Phrases that make the policy's rules fire (kind -> texts).
TRIGGERS = {
    "confidential": ("This document is strictly private and confidential.",
                     "社外秘: 第3四半期 決算速報案を添付します。",
                     "Internal use only - do not forward.",
                     "極秘 合併計画の資料です。", "Project Hayabusa budget"),
    "fraud": ("Please verify your account within 24 hours or it will be "
              "suspended.", "We need an urgent payment by wire transfer "
              "today.", "アカウントが停止されました。本人確認のため以下のリンクへ。",
              "Kindly confirm receipt of the updated bank details.",
              "You are the beneficiary of the fund of USD 4,500,000,000."),
    "pii": ("Card number: 4111 1111 1111 1111, CVV: 123",
            "マイナンバー: 1234 5678 9012", "口座番号: 1234567",
            "Date of birth: 1980-01-01, SSN 123-45-6789"),
    "offensive": ("sekisho-sample-defamation-test",
                  "your manager is a crook", "性差別サンプル語句"),
}

CHARSETS = (("utf-8", "base64"), ("utf-8", "quoted-printable"),
            ("utf-8", "8bit"), ("iso-2022-jp", "7bit"),
            ("shift_jis", "base64"), ("iso-8859-1", "quoted-printable"))


def b64(data):
    """base64 in 76-column CRLF lines."""
    s = base64.b64encode(data)
    return b"\r\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + b"\r\n"


def qp(data):
    """quoted-printable with CRLF line ends."""
    out = quopri.encodestring(data.replace(b"\r\n", b"\n"))
    out = out.replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"\r\n"


def rfc2047(text, charset="utf-8"):
    """An encoded-word (B) for a header value, split to keep lines short."""
    if all(ord(c) < 128 for c in text):
        return text
    words = []
    chunk = ""
    for ch in text:
        if len((chunk + ch).encode(charset, "replace")) > 36:
            words.append(chunk)
            chunk = ""
        chunk += ch
    if chunk:
        words.append(chunk)
    enc = []
    for w in words:
        raw = w.encode(charset, "replace")
        enc.append("=?%s?B?%s?=" % (charset.upper(),
                                    base64.b64encode(raw).decode()))
    return "\r\n ".join(enc)


def rfc2231(name):
    """filename*=UTF-8''... for a non-ASCII file name."""
    out = []
    for b in name.encode("utf-8"):
        c = chr(b)
        out.append(c if c.isalnum() or c in "._-" else "%%%02X" % b)
    return "UTF-8''" + "".join(out)


class Gen:
    """One deterministic message generator."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    # ---- text ----------------------------------------------------------

    def en_text(self, nbytes):
        r = self.r
        out, n = [], 0
        while n < nbytes:
            k = r.randint(6, 18)
            s = " ".join(r.choice(EN_WORDS) for _ in range(k))
            s = s[0].upper() + s[1:] + "."
            out.append(s)
            n += len(s) + 1
            if r.random() < 0.15:
                out.append("\n\n")
        return " ".join(out)

    def ja_text(self, nbytes):
        r = self.r
        out, n = [], 0
        while n < nbytes:
            s = r.choice(JA_PHRASES)
            out.append(s)
            n += len(s.encode("utf-8"))
            if r.random() < 0.2:
                out.append("\n")
        return "".join(out)

    def body_text(self, nbytes, lang):
        if lang == "ja":
            t = self.ja_text(nbytes * 2 // 3) + "\n\n" + self.en_text(nbytes // 3)
        else:
            t = self.en_text(nbytes)
        return t

    def trigger(self, kinds):
        return "\n".join(self.r.choice(TRIGGERS[k]) for k in kinds)

    def wrap(self, text, width=72):
        """Wrap long lines (by characters) so text parts look like mail."""
        lines = []
        for para in text.split("\n"):
            while len(para) > width:
                cut = para.rfind(" ", 0, width)
                if cut <= 0:
                    cut = width
                lines.append(para[:cut])
                para = para[cut:].lstrip(" ")
            lines.append(para)
        return "\r\n".join(lines) + "\r\n"

    # ---- attachments ------------------------------------------------------

    def elf(self, size):
        """A small x86-64 ELF executable header, padded."""
        hdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
        hdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0,
                           0, 64, 56, 1, 64, 0, 0)
        ph = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000,
                         size, size, 0x1000)
        body = hdr + ph
        return body + self.r.randbytes(max(0, size - len(body)))

    def pe(self, size):
        """A small PE (MZ + PE header) executable, padded."""
        mz = bytearray(b"MZ" + b"\x90\x00" + b"\0" * 60)
        struct.pack_into("<I", mz, 0x3C, 0x80)
        stub = bytes(mz) + b"\0" * (0x80 - len(mz))
        coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 1, 0x65F00000, 0, 0,
                                       0xE0, 0x0102)
        opt = struct.pack("<HBB", 0x10B, 14, 0) + b"\0" * (0xE0 - 4)
        body = stub + coff + opt
        return body + self.r.randbytes(max(0, size - len(body)))

    def pdf(self, size, text):
        """PDF-like: a text stream with `text`, then binary filler."""
        t = text.encode("latin-1", "replace").replace(b"(", b"[")
        t = t.replace(b")", b"]").replace(b"\\", b"/")
        content = b"BT /F1 11 Tf 72 720 Td (" + t + b") Tj ET"
        parts = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
                 b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n",
                 b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n",
                 b"3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> "
                 b"endobj\n",
                 b"4 0 obj << /Length %d >> stream\n" % len(content),
                 content, b"\nendstream endobj\n"]
        used = sum(len(p) for p in parts) + 80
        fill = max(0, size - used)
        comp = zlib.compress(self.r.randbytes(fill), 1)[:fill]
        parts += [b"5 0 obj << /Length %d /Filter /FlateDecode >> stream\n"
                  % len(comp), comp, b"\nendstream endobj\n",
                  b"trailer << /Root 1 0 R >>\n%%EOF\n"]
        return b"".join(parts)

    def png(self, size):
        """PNG signature, IHDR and an incompressible IDAT."""
        def chunk(typ, data):
            return (struct.pack(">I", len(data)) + typ + data +
                    struct.pack(">I", zlib.crc32(typ + data)))
        ihdr = struct.pack(">IIBBBBB", 640, 480, 8, 2, 0, 0, 0)
        data = self.r.randbytes(max(0, size - 57))
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                chunk(b"IDAT", data) + chunk(b"IEND", b""))

    def csv(self, size, pii):
        r = self.r
        rows = ["id,name,company,email,phone,amount"]
        n = 0
        while n < size:
            row = "%d,%s,%s,%s@example.co.jp,03-%04d-%04d,%d" % (
                r.randint(1, 99999), r.choice(JA_NAMES), r.choice(JA_PHRASES[16:22]),
                "user%d" % r.randint(1, 9999), r.randint(0, 9999),
                r.randint(0, 9999), r.randint(100, 999999))
            rows.append(row)
            n += len(row.encode("utf-8")) + 2
        if pii:
            rows.insert(r.randint(1, len(rows)), self.trigger(["pii"]))
        return ("\r\n".join(rows) + "\r\n").encode("utf-8")

    def zipfile_bytes(self, members):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                zi = zipfile.ZipInfo(name, ZIP_TIME)
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data, compresslevel=6)
        return buf.getvalue()

    def targz(self, members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members:
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                ti.mtime = TAR_MTIME
                ti.uname = ti.gname = "bench"
                t.addfile(ti, io.BytesIO(data))
        return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)

    def ooxml(self, kind, size, text):
        """docx/xlsx/xlsm-like: a zip whose first member is [Content_Types].xml."""
        main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml",
                "xlsm": "xl/workbook.xml"}[kind]
        ct = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns='
              '"http://schemas.openxmlformats.org/package/2006/content-types">'
              '<Override PartName="/%s" ContentType="application/vnd.'
              'openxmlformats-officedocument.%s"/></Types>' % (
                  main, "wordprocessingml.document.main+xml" if kind == "docx"
                  else "spreadsheetml.sheet.main+xml"))
        xml = ('<?xml version="1.0" encoding="UTF-8"?><doc><p>%s</p></doc>'
               % text.replace("&", "&amp;").replace("<", "&lt;"))
        members = [("[Content_Types].xml", ct.encode()),
                   ("_rels/.rels", b'<?xml version="1.0"?><Relationships/>'),
                   (main, xml.encode("utf-8")),
                   ("docProps/thumbnail.jpeg", self.r.randbytes(max(0, size // 2)))]
        if kind == "xlsm":
            members.append(("xl/vbaProject.bin", self.ole(2048)))
        return self.zipfile_bytes(members)

    def ole(self, size):
        return (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 +
                b"\x3e\x00\x03\x00\xfe\xff\x09\x00" + self.r.randbytes(max(0, size - 32)))

    def attachment(self, size, features):
        """One attachment of about `size` raw bytes: (name, ctype, data, enc)."""
        r = self.r
        kinds = ["pdf", "zip", "targz", "docx", "xlsx", "png", "csv", "ole",
                 "txt"]
        weights = [22, 16, 8, 10, 6, 14, 8, 4, 6]
        if size < 3000:
            kinds, weights = ["pe", "elf", "zip", "csv", "txt", "pdf"], \
                [10, 6, 20, 15, 15, 30]
        k = r.choices(kinds, weights)[0]
        ja = r.random() < 0.3
        pick = r.random()
        if k == "pe":
            if pick < 0.5:
                features.add("exe-name")
                return ("setup.exe", "application/octet-stream", self.pe(size), "base64")
            if pick < 0.7:
                features.add("double-ext")
                return ("invoice.pdf.exe", "application/pdf", self.pe(size), "base64")
            features.add("exe-renamed")
            return ("notes.txt", "text/plain", self.pe(size), "base64")
        if k == "elf":
            features.add("elf")
            return ("update.bin" if pick < 0.5 else "readme.dat",
                    "application/octet-stream", self.elf(size), "base64")
        if k == "pdf":
            text = self.en_text(300)
            if r.random() < 0.15:
                text += " " + self.trigger(["confidential"])
            name = "見積書_%03d.pdf" % r.randint(1, 999) if ja else \
                "report-%03d.pdf" % r.randint(1, 999)
            return (name, "application/pdf", self.pdf(size, text), "base64")
        if k in ("zip", "targz"):
            members = []
            left = size * 3
            while left > 0:
                n = min(left, r.randint(2000, max(2000, size)))
                members.append(("docs/%s-%02d.txt" % (r.choice(EN_WORDS), len(members)),
                                self.en_text(n).encode()))
                left -= n
                if len(members) > 40:
                    break
            if r.random() < 0.15:
                features.add("exe-in-archive")
                members.append(("tools/helper.exe", self.pe(4096)))
            if r.random() < 0.1:
                features.add("script-in-archive")
                members.append(("run/start.js", b"WScript.Echo('x');\r\n"))
            if r.random() < 0.05:
                members.append(("bin/agent", self.elf(2048)))
            data = self.zipfile_bytes(members) if k == "zip" else self.targz(members)
            # keep it near the budget: compressed text is ~1/3 of its size
            name = ("資料一式.zip" if ja else "files.zip") if k == "zip" \
                else "logs-%d.tar.gz" % r.randint(1, 99)
            ctype = "application/zip" if k == "zip" else "application/gzip"
            return (name, ctype, data, "base64")
        if k in ("docx", "xlsx"):
            if k == "xlsx" and r.random() < 0.25:
                k = "xlsm"
                features.add("macro")
            text = self.en_text(500)
            if r.random() < 0.1:
                text += self.trigger(["confidential"])
            ext = k
            name = ("議事録." + ext) if ja else ("minutes." + ext)
            return (name, "application/octet-stream", self.ooxml(k, size, text), "base64")
        if k == "png":
            return ("image%03d.png" % r.randint(1, 999), "image/png", self.png(size), "base64")
        if k == "ole":
            return ("old-form.doc", "application/msword", self.ole(size), "base64")
        if k == "csv":
            pii = r.random() < 0.1
            name = "顧客リスト.csv" if ja and pii else "export.csv"
            return (name, "text/csv", self.csv(size, pii),
                    "quoted-printable" if r.random() < 0.5 else "base64")
        return ("notes.txt", "text/plain", self.en_text(size).encode(), "quoted-printable")

    # ---- message ----------------------------------------------------------

    def text_part(self, text, html):
        r = self.r
        cs, cte = r.choice(CHARSETS)
        if cs == "iso-8859-1":
            text = self.en_text(len(text.encode()) // 2)
        if html:
            esc = text.replace("&", "&amp;").replace("<", "&lt;")
            paras = "".join("<p>%s</p>\r\n" % p for p in esc.split("\n") if p)
            form = ""
            if r.random() < 0.03:
                form = ('<form action="http://login.example.net/x"><input '
                        'type="password" name="pw"></form>\r\n')
            text = ("<html><head><meta charset=\"%s\"></head><body>\r\n%s%s"
                    "</body></html>\r\n" % (cs, paras, form))
            wrapped = text
        else:
            wrapped = self.wrap(text)
        raw = wrapped.encode(cs, "replace")
        if cte == "base64":
            body = b64(raw)
        elif cte == "quoted-printable":
            body = qp(raw)
        else:
            body = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
            if cte == "7bit" and cs != "iso-2022-jp":
                cte = "8bit"
        ctype = "text/html" if html else "text/plain"
        return (b"Content-Type: %s; charset=\"%s\"\r\nContent-Transfer-Encoding:"
                b" %s\r\n\r\n" % (ctype.encode(), cs.encode(), cte.encode())) + body

    def attach_part(self, name, ctype, data, cte):
        r = self.r
        if all(ord(c) < 128 for c in name):
            disp = 'attachment; filename="%s"' % name
            nparam = '; name="%s"' % name
        elif r.random() < 0.5:
            disp = "attachment; filename*=%s" % rfc2231(name)
            nparam = ""
        else:
            disp = 'attachment; filename="%s"' % rfc2047(name)
            nparam = '; name="%s"' % rfc2047(name)
        body = b64(data) if cte == "base64" else qp(data)
        return ("Content-Type: %s%s\r\nContent-Disposition: %s\r\n"
                "Content-Transfer-Encoding: %s\r\n\r\n" % (
                    ctype, nparam, disp, cte)).encode() + body

    def headers(self, idx, subject, features, lang):
        r = self.r
        name = r.choice(JA_NAMES if lang == "ja" else EN_NAMES)
        dom = r.choice(("example.net", "example.co.jp", "mail.example.org",
                        "partner.example.com"))
        sender = "%s <sender%d@%s>" % (rfc2047(name, "iso-2022-jp" if r.random() < 0.5
                                                else "utf-8") if lang == "ja" else name,
                                        r.randint(1, 500), dom)
        if r.random() < 0.02:
            sender = "CEO <ceo@example.com>"
            features.add("forged-internal")
        ncc = 0
        if r.random() < 0.04:
            ncc = r.randint(31, 80)
            features.add("many-rcpts")
        to = "user1@example.com"
        hdr = ["Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\r\n\tby gw.example.com "
               "(sekisho) with ESMTPS id %08X\r\n\tfor <user1@example.com>; "
               "Mon, 1 Apr 2024 09:%02d:%02d +0900" % (
                   idx % 9, dom, idx % 9, dom, 1 + idx % 250, r.getrandbits(32),
                   idx % 60, (idx * 7) % 60)]
        if "forged-internal" in features:
            hdr.append("Received: from dsl-198-51-100-%d.dynamic.example.net "
                       "(dsl-198-51-100-%d.dynamic.example.net [198.51.100.%d])"
                       % (idx % 250, idx % 250, idx % 250))
        hdr += ["From: %s" % sender, "To: %s" % to]
        if ncc:
            hdr.append("Cc: " + ",\r\n ".join(
                "member%d@example.com" % i for i in range(ncc)))
        hdr.append("Subject: %s" % subject)
        hdr.append("Date: Mon, 1 Apr 2024 09:%02d:%02d +0900" % (idx % 60, (idx * 7) % 60))
        hdr.append("Message-ID: <bench.%d.%08x@%s>" % (idx, r.getrandbits(32), dom))
        if r.random() < 0.05:
            hdr.append("Reply-To: support-%d@gmail.com" % r.randint(1, 99))
            features.add("freemail-reply-to")
        if r.random() < 0.06:
            hdr.append("X-Mailer: SendBlaster 4.1 bulk edition")
            hdr.append("Precedence: bulk")
            features.add("bulk")
        else:
            hdr.append("X-Mailer: %s" % r.choice((
                "Microsoft Outlook 16.0", "Thunderbird 115.9", "Becky! ver. 2.81",
                "Apple Mail (2.3774)")))
        if r.random() < 0.02:
            hdr.append("X-Spam-Flag: YES")
            features.add("spam-flag")
        hdr.append("MIME-Version: 1.0")
        return "\r\n".join(hdr) + "\r\n"

    def message(self, idx, target):
        """One message of about `target` bytes, with its feature set."""
        r = self.r
        features = set()
        lang = "ja" if r.random() < 0.6 else "en"
        kinds = []
        for kind, p in (("confidential", 0.08), ("fraud", 0.06), ("pii", 0.04),
                        ("offensive", 0.02)):
            if r.random() < p:
                kinds.append(kind)
                features.add(kind)
        if lang == "ja":
            subj = r.choice(("打ち合わせの件", "見積書送付のご案内", "【至急】請求書について",
                             "議事録の共有", "出荷のお知らせ", "新製品のご案内"))
        else:
            subj = " ".join(r.choice(EN_WORDS) for _ in range(r.randint(3, 7))).capitalize()
        if "confidential" in kinds and r.random() < 0.5:
            subj = "【社外秘】" + subj if lang == "ja" else "Confidential: " + subj
        if r.random() < 0.02:
            subj = ""
            features.add("empty-subject")
        subj_h = rfc2047(subj, "iso-2022-jp" if r.random() < 0.5 else "utf-8") \
            if lang == "ja" else subj

        text_budget = max(1200, min(target // 8, 40000))
        text = self.body_text(text_budget, lang)
        if kinds:
            lines = text.split("\n")
            lines.insert(r.randint(0, len(lines)), self.trigger(kinds))
            text = "\n".join(lines)
        alt = r.random() < 0.6
        bnd = "=_bench_%d_%08x" % (idx, r.getrandbits(32))
        parts = []
        if alt:
            abnd = bnd + "_alt"
            body = (b"Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
                    % abnd.encode())
            body += b"--%s\r\n" % abnd.encode() + self.text_part(text, False)
            body += b"--%s\r\n" % abnd.encode() + self.text_part(text, True)
            body += b"--%s--\r\n" % abnd.encode()
            parts.append(body)
        else:
            parts.append(self.text_part(text, False))
        head = self.headers(idx, subj_h, features, lang).encode()
        used = len(head) + sum(len(p) for p in parts) + 200
        left = max(0, target - used)
        # raw bytes that fit the budget once base64-encoded
        raw = left * 3 // 4
        nat = 0
        while raw > 400 and nat < 12:
            if target <= 8192:
                size = raw if nat else min(raw, r.randint(600, 2500))
            else:
                share = r.uniform(0.25, 0.7) if nat < 3 else 1.0
                size = max(400, int(raw * share))
            name, ctype, data, cte = self.attachment(size, features)
            if len(data) > raw * 1.3 and nat > 0:
                break
            ap = self.attach_part(name, ctype, data, cte)
            parts.append(ap)
            raw -= len(data)
            nat += 1
        if r.random() < 0.02 and target > 8192:
            features.add("many-attachments")
            for i in range(11):
                parts.append(self.attach_part("part%02d.txt" % i, "text/plain",
                                              self.en_text(200).encode(), "quoted-printable"))
        msg = head + (b"Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
                      b"This is a multi-part message in MIME format.\r\n" % bnd.encode())
        for p in parts:
            msg += b"--%s\r\n" % bnd.encode() + p
        msg += b"--%s--\r\n" % bnd.encode()
        return msg, sorted(features)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="smaller counts: %s" % QUICK_N)
    for name, _ in CLASSES:
        ap.add_argument("--n" + name, type=int, default=None,
                        help="messages of class %s (default %d, quick %d)"
                        % (name, DEFAULT_N[name], QUICK_N[name]))
    a = ap.parse_args()
    counts = dict(QUICK_N if a.quick else DEFAULT_N)
    for name, _ in CLASSES:
        v = getattr(a, "n" + name)
        if v is not None:
            counts[name] = v
    manifest = {"seed": a.seed, "classes": {}}
    for ci, (name, target) in enumerate(CLASSES):
        d = os.path.join(a.outdir, name)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.endswith(".eml"):
                os.unlink(os.path.join(d, f))
        g = Gen(a.seed * 1000 + ci)
        sizes, feats = [], {}
        for i in range(counts[name]):
            msg, fs = g.message(i, target)
            with open(os.path.join(d, "%05d.eml" % i), "wb") as f:
                f.write(msg)
            sizes.append(len(msg))
            for x in fs:
                feats[x] = feats.get(x, 0) + 1
        manifest["classes"][name] = {
            "dir": d, "target_bytes": target, "messages": len(sizes),
            "bytes": sum(sizes), "min": min(sizes) if sizes else 0,
            "max": max(sizes) if sizes else 0,
            "mean": sum(sizes) / len(sizes) if sizes else 0,
            "features": dict(sorted(feats.items()))}
        print("gen_corpus: %-5s %5d messages, mean %8.1f KB (%.1f..%.1f), %s"
              % (name, len(sizes), manifest["classes"][name]["mean"] / 1024,
                 min(sizes) / 1024, max(sizes) / 1024,
                 ", ".join("%s %d" % kv for kv in sorted(feats.items()))))
    with open(os.path.join(a.outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

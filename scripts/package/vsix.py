#!/usr/bin/env python3
"""Builds the VS Code extension package (.vsix) without npm or vsce.

    python3 scripts/package/vsix.py --out dist      → dist/xlchat-VERSION.vsix

A .vsix is an Open Packaging Conventions zip (what `vsce package` writes):
  [Content_Types].xml        the MIME type of each file extension in the zip
  extension.vsixmanifest     the VSIX 2.0 manifest: identity, engine, assets
  extension/package.json, extension/src/*.js, extension/README.md, extension/LICENSE.txt,
  extension/CHANGELOG.md     the extension as VS Code unpacks it into ~/.vscode/extensions
The manifest is derived from package.json, so the two cannot disagree (the node test
editors/vscode/test/vsix.test.js unpacks the result and checks exactly that). Entries are
written in a fixed order with a fixed date, so the same sources give the same bytes.
"""
import argparse
import json
import os
import sys
import zipfile
from xml.sax.saxutils import escape, quoteattr

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXT = os.path.join(ROOT, "editors", "vscode")
DATE = (2026, 1, 1, 0, 0, 0)  # zip entries' timestamp (reproducible builds)

CONTENT_TYPES = {".json": "application/json", ".js": "application/javascript", ".md": "text/markdown",
                 ".txt": "text/plain", ".vsixmanifest": "text/xml"}


def files(pkg):
    """(path in the zip, path on disk) of the extension's files: package.json, what `main`
    loads (src/), the README, LICENSE and CHANGELOG. Tests and dot-files stay out."""
    out = [("extension/package.json", os.path.join(EXT, "package.json"))]
    src = os.path.join(EXT, "src")
    for name in sorted(os.listdir(src)):
        if name.endswith(".js"):
            out.append((f"extension/src/{name}", os.path.join(src, name)))
    out.append(("extension/README.md", os.path.join(EXT, "README.md")))
    out.append(("extension/CHANGELOG.md", os.path.join(EXT, "CHANGELOG.md")))
    out.append(("extension/LICENSE.txt", os.path.join(ROOT, "LICENSE")))
    main = os.path.normpath(pkg["main"]).replace(os.sep, "/")
    if f"extension/{main}" not in [z for z, _ in out]:
        sys.exit(f"vsix: package.json main {pkg['main']} is not among the packaged files")
    for _, disk in out:
        if not os.path.isfile(disk):
            sys.exit(f"vsix: missing {os.path.relpath(disk, ROOT)}")
    return out


def manifest(pkg):
    """extension.vsixmanifest, as vsce writes it, from package.json's fields."""
    engine = pkg["engines"]["vscode"]
    categories = ",".join(pkg.get("categories", []))
    tags = ",".join(pkg.get("keywords", []))
    props = [
        ("Microsoft.VisualStudio.Code.Engine", engine),
        ("Microsoft.VisualStudio.Code.ExtensionDependencies", ",".join(pkg.get("extensionDependencies", []))),
        ("Microsoft.VisualStudio.Code.ExtensionPack", ",".join(pkg.get("extensionPack", []))),
        ("Microsoft.VisualStudio.Code.ExtensionKind", ",".join(pkg.get("extensionKind", ["workspace"]))),
        ("Microsoft.VisualStudio.Code.LocalizedLanguages", ""),
        ("Microsoft.VisualStudio.Services.GitHubFlavoredMarkdown", "true"),
        ("Microsoft.VisualStudio.Services.Content.Pricing", "Free"),
    ]
    prop_xml = "\n".join(f"      <Property Id={quoteattr(k)} Value={quoteattr(v)} />" for k, v in props)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id={quoteattr(pkg["name"])} Version={quoteattr(pkg["version"])} Publisher={quoteattr(pkg["publisher"])} />
    <DisplayName>{escape(pkg.get("displayName", pkg["name"]))}</DisplayName>
    <Description xml:space="preserve">{escape(pkg.get("description", ""))}</Description>
    <Tags>{escape(tags)}</Tags>
    <Categories>{escape(categories)}</Categories>
    <GalleryFlags>Public</GalleryFlags>
    <Properties>
{prop_xml}
    </Properties>
    <License>extension/LICENSE.txt</License>
  </Metadata>
  <Installation>
    <InstallationTarget Id="Microsoft.VisualStudio.Code" />
  </Installation>
  <Dependencies />
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.Details" Path="extension/README.md" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.Changelog" Path="extension/CHANGELOG.md" Addressable="true" />
    <Asset Type="Microsoft.VisualStudio.Services.Content.License" Path="extension/LICENSE.txt" Addressable="true" />
  </Assets>
</PackageManifest>
"""


def content_types(names):
    exts = sorted({os.path.splitext(n)[1] for n in names})
    unknown = [e for e in exts if e not in CONTENT_TYPES]
    if unknown:
        sys.exit(f"vsix: no content type for {unknown}: add it to CONTENT_TYPES")
    defaults = "".join(f'<Default Extension="{e}" ContentType="{CONTENT_TYPES[e]}"/>' for e in exts)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{defaults}</Types>\n')


def build(out_dir):
    with open(os.path.join(EXT, "package.json"), encoding="utf-8") as f:
        pkg = json.load(f)
    for field in ("name", "version", "publisher", "engines", "main"):
        if field not in pkg:
            sys.exit(f"vsix: package.json has no {field}")
    entries = files(pkg)
    names = ["extension.vsixmanifest"] + [z for z, _ in entries]
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, f"{pkg['name']}-{pkg['version']}.vsix")

    def add(z, name, data):
        info = zipfile.ZipInfo(name, DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        z.writestr(info, data)

    with zipfile.ZipFile(target + ".tmp", "w") as z:
        add(z, "[Content_Types].xml", content_types(names))
        add(z, "extension.vsixmanifest", manifest(pkg))
        for name, disk in entries:
            with open(disk, "rb") as f:
                add(z, name, f.read())
    os.replace(target + ".tmp", target)
    print(f"vsix: {target} ({os.path.getsize(target)} bytes, {len(entries)} files)")
    return target


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output directory (default: dist)")
    build(ap.parse_args().out)

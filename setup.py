"""Package discovery that sees through the product card's layout.

pyproject.toml maps rules/ and server/ into the trainlint package (package-dir); setuptools'
own discovery cannot follow that mapping, and a list kept by hand silently leaves a new
rules/<group>/ out of the wheel. Every package below the three roots is found here.
"""

from setuptools import find_packages, setup


def packages_below(folder: str, name: str) -> list[str]:
    return [name, *(f"{name}.{package}" for package in find_packages(folder))]


setup(
    packages=[
        *packages_below("trainlint", "trainlint"),
        *packages_below("rules", "trainlint.rules"),
        *packages_below("server", "trainlint.server"),
    ]
)

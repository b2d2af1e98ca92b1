# Metadata lives in setup.cfg; this file exists for editable installs with
# older pip/setuptools front ends.
from setuptools import setup

setup()

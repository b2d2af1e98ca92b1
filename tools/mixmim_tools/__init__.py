"""The code of the plugin's tools (``tools/*.py``): benchmarks, pictures,
feature evaluation, the embedded-data generator and the scripts' command
lines (:mod:`mixmim_tools.cli`).

Nothing here is imported by ``mixmim_plugin`` or by a config: the runtime
package holds only what training needs. Installed with the plugin
(``pip install -e .`` or a wheel) as the top-level package
``mixmim_tools``.
"""

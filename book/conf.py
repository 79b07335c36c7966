"""Sphinx configuration of the rendered workbook (``make book``; ``osrkit.book`` copies this
folder, the executed lessons and the glossary into ``build/book_src`` and builds from there).

Sphinx with myst-nb rather than Jupyter Book 1: Jupyter Book 1 is a wrapper that writes
this same Sphinx + myst-nb configuration, and it is in maintenance mode (Jupyter Book 2 is
a Node tool). Written directly, every setting that must hold offline is in view: the
notebooks are never executed here (``nb_execution_mode = "off"``), no widget JavaScript is
fetched (``nb_ipywidgets_js = {}``), and MathJax is the copy that ``osrkit.book`` puts in
``_static/mathjax`` (``mathjax_path``) instead of a CDN.
"""
project = "osrkit: an open-set recognition workbook"
author = "the osrkit developers"
copyright = "2026, the osrkit developers; code MIT, lesson text CC BY 4.0"

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

nb_execution_mode = "off"           # the lessons were executed by `make workbook` (build/notebooks)
nb_ipywidgets_js = {}               # widgets appear as their note and plain figure, no JS from a CDN
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

html_theme = "sphinx_book_theme"
html_title = "osrkit workbook"
html_static_path = ["_static"]
html_css_files = ["osrkit.css"]
html_theme_options = {"show_toc_level": 2, "use_download_button": False, "use_fullscreen_button": False,
                      "home_page_in_toc": True}
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False

mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"   # MathJax 2, vendored by osrkit.book
mathjax2_config = {"tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                               "processRefs": False, "processEnvironments": False,
                               "processClass": "tex2jax_process|mathjax_process|math|output_area"},
                   # the package ships the STIX web fonts only (as the classic notebook configured it)
                   "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                                "imageFont": None}}

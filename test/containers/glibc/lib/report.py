"""The job's report, a module of its own so that importing it writes its .pyc."""


def render(links, names, lines):
    return f"{links} links ({', '.join(sorted(names))}); {lines} intermediate lines\n"

"""The workbench: `points serve`, server-rendered pages over the same API as the command line.

- `config`: who may do what (roles, tokens, users) and which folders may be read;
- `app`: the Starlette application (`create_app(config)`), its routes and guards (auth, CSRF);
- `pages`: what each page shows, built from engine.explain, engine.diff, engine.impact,
  dsl.checks and engine.examples, never computed a second way;
- `render`: ruleset source as highlighted HTML (dsl.highlight's lexer) and charts as inline SVG;
- `jobs`: work that takes seconds (the impact of a version on a big run) in a background thread.
"""

from pathlib import Path

from sweeper.spec.reference import reference

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- REFERENCE:START", "<!-- REFERENCE:END -->"


def test_readme_reference_matches_the_schema():
    text = README.read_text()
    block = text[text.index(START) : text.index(END)]
    block = block[block.index("\n") + 1 :]
    assert block.strip() == reference().strip(), "regenerate: python -m sweeper.spec.reference"


def test_reference_documents_every_train_setting():
    from sweeper.spec import TrainSettings

    text = reference()
    for name in TrainSettings.model_fields:
        assert f"| `{name}` |" in text

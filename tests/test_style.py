"""Lesson 06's style measures, fixed before any result was seen: Early Modern forms and the play's layout."""
from tlcourse.lessons import style


def test_early_modern_forms_are_counted_per_word():
    assert style.eme_counts("Thou hast it, and 'tis thy own; hath he?") == (5, 9)
    assert style.eme_counts("You have it, and it is your own.") == (0, 8)


def test_layout_needs_a_speaker_name_alone_on_its_line():
    assert style.speaker_layout("HAMLET\nTo be, or not to be.")
    assert style.speaker_layout("said.\nKING CLAUDIUS\nHow fares our cousin?")
    assert not style.speaker_layout("Hamlet said: to be, or not to be.")
    assert not style.speaker_layout("I\nam here")  # one capital letter is no name


def test_the_play_itself_is_in_its_own_style():
    play = style.play_reference()
    assert play["layout_share"] > 0.5 and play["eme_per_1000"] > 5

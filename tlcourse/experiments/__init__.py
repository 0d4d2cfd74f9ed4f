"""How the course runs an experiment, shared by the lessons: the protocol (settings searched on validation,
"is this result still current?", paired intervals), the classifier grid of lessons 03-06 and the teacher
that lessons 07, 08 and 11 start from."""

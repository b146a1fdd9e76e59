"""Regenerates the sample datasets in this folder (hand-written pairs, chat format).

python localtuner/samples/make_samples.py
"""

import json
from pathlib import Path

HERE = Path(__file__).parent

GERMAN = [
    ("What is the capital of Germany?", "Die Hauptstadt von Deutschland ist Berlin."),
    ("How many days are in a week?", "Eine Woche hat sieben Tage."),
    ("What color is the sky on a clear day?", "Der Himmel ist an einem klaren Tag blau."),
    ("What do bees make?", "Bienen machen Honig."),
    ("Which animal says meow?", "Die Katze sagt miau."),
    ("What is two plus three?", "Zwei plus drei ist fünf."),
    ("What do you drink when you are thirsty?", "Wenn ich Durst habe, trinke ich Wasser."),
    ("Where does the sun rise?", "Die Sonne geht im Osten auf."),
    ("What is the opposite of hot?", "Das Gegenteil von heiß ist kalt."),
    ("How many legs does a dog have?", "Ein Hund hat vier Beine."),
    ("What season comes after winter?", "Nach dem Winter kommt der Frühling."),
    ("What do cows give us?", "Kühe geben uns Milch."),
    ("What is the largest ocean?", "Der größte Ozean ist der Pazifische Ozean."),
    ("What do you use to write?", "Zum Schreiben benutze ich einen Stift."),
    ("What is frozen water called?", "Gefrorenes Wasser nennt man Eis."),
    ("How many hours are in a day?", "Ein Tag hat vierundzwanzig Stunden."),
    ("What is the color of grass?", "Gras ist grün."),
    ("What do birds use to fly?", "Vögel benutzen ihre Flügel, um zu fliegen."),
    ("Where do fish live?", "Fische leben im Wasser."),
    ("What is the first month of the year?", "Der erste Monat des Jahres ist der Januar."),
    ("What do you wear on your feet?", "An den Füßen trage ich Schuhe und Socken."),
    ("What fruit is yellow and curved?", "Die Banane ist gelb und krumm."),
    ("What do you do with a book?", "Ein Buch kann man lesen."),
    ("What is the opposite of day?", "Das Gegenteil von Tag ist Nacht."),
    ("How do you greet someone in the morning?", "Am Morgen sagt man: Guten Morgen!"),
    ("What is ten minus four?", "Zehn minus vier ist sechs."),
    ("Which planet do we live on?", "Wir leben auf dem Planeten Erde."),
    ("What do plants need to grow?", "Pflanzen brauchen Licht, Wasser und Erde, um zu wachsen."),
    ("What is the capital of France?", "Die Hauptstadt von Frankreich ist Paris."),
    ("What do you use to cut paper?", "Papier schneidet man mit einer Schere."),
    ("What is a baby cat called?", "Eine junge Katze nennt man Kätzchen."),
    ("How many wheels does a bicycle have?", "Ein Fahrrad hat zwei Räder."),
    ("What falls from clouds when it rains?", "Wenn es regnet, fällt Wasser aus den Wolken."),
    ("Which meal do you eat in the morning?", "Am Morgen isst man das Frühstück."),
    ("What is the opposite of big?", "Das Gegenteil von groß ist klein."),
    ("Where do you sleep?", "Ich schlafe in meinem Bett."),
    ("What does a doctor do?", "Ein Arzt hilft kranken Menschen, wieder gesund zu werden."),
    ("What is five times two?", "Fünf mal zwei ist zehn."),
    ("What do you need to open a door?", "Um eine Tür zu öffnen, braucht man oft einen Schlüssel."),
    ("Which animal is known as the king of the jungle?", "Der Löwe ist als König des Dschungels bekannt."),
    # held out
    ("What is the capital of Italy?", "Die Hauptstadt von Italien ist Rom."),
    ("How many months are in a year?", "Ein Jahr hat zwölf Monate."),
    ("What color are bananas?", "Bananen sind gelb."),
    ("What do chickens lay?", "Hühner legen Eier."),
    ("What is the opposite of fast?", "Das Gegenteil von schnell ist langsam."),
    ("Where do penguins live?", "Pinguine leben vor allem in der Antarktis."),
    ("What do you use to see?", "Zum Sehen benutze ich meine Augen."),
    ("What is three plus four?", "Drei plus vier ist sieben."),
    ("What season is the hottest?", "Der Sommer ist die heißeste Jahreszeit."),
    ("What do you eat soup with?", "Suppe isst man mit einem Löffel."),
]

JSON_ANSWERS = [
    ("What is the capital of Germany?", {"answer": "Berlin"}),
    ("How many days are in a week?", {"answer": 7}),
    ("Is water wet?", {"answer": True}),
    ("Name three primary colors.", {"answer": ["red", "blue", "yellow"]}),
    ("What is 12 divided by 4?", {"answer": 3}),
    ("Who wrote Romeo and Juliet?", {"answer": "William Shakespeare"}),
    ("What is the boiling point of water in Celsius?", {"answer": 100}),
    ("Is the Earth flat?", {"answer": False}),
    ("List the first three planets from the sun.", {"answer": ["Mercury", "Venus", "Earth"]}),
    ("What is the chemical symbol for gold?", {"answer": "Au"}),
    ("How many continents are there?", {"answer": 7}),
    ("What language is spoken in Brazil?", {"answer": "Portuguese"}),
    ("What is the largest mammal?", {"answer": "blue whale"}),
    ("Give me two even numbers.", {"answer": [2, 4]}),
    ("What is the square root of 81?", {"answer": 9}),
    ("Which gas do plants absorb?", {"answer": "carbon dioxide"}),
    ("Is a tomato a fruit?", {"answer": True}),
    ("What year did World War II end?", {"answer": 1945}),
    ("What is the capital of Japan?", {"answer": "Tokyo"}),
    ("Name two string instruments.", {"answer": ["violin", "guitar"]}),
    ("How many sides does a triangle have?", {"answer": 3}),
    ("What is the freezing point of water in Fahrenheit?", {"answer": 32}),
    ("Who painted the Mona Lisa?", {"answer": "Leonardo da Vinci"}),
    ("What is the longest river in Africa?", {"answer": "Nile"}),
    ("Can penguins fly?", {"answer": False}),
    ("List the days of the weekend.", {"answer": ["Saturday", "Sunday"]}),
    ("What is 7 times 8?", {"answer": 56}),
    ("What is the smallest prime number?", {"answer": 2}),
    ("Which planet is known as the Red Planet?", {"answer": "Mars"}),
    ("What currency is used in the United Kingdom?", {"answer": "pound sterling"}),
    ("How many minutes are in an hour?", {"answer": 60}),
    ("Name the three states of matter.", {"answer": ["solid", "liquid", "gas"]}),
    ("Is the sun a star?", {"answer": True}),
    ("What is the capital of Canada?", {"answer": "Ottawa"}),
    ("How many legs does a spider have?", {"answer": 8}),
    ("What is the main ingredient of guacamole?", {"answer": "avocado"}),
    ("Which ocean lies between Europe and America?", {"answer": "Atlantic Ocean"}),
    ("What is 100 minus 37?", {"answer": 63}),
    ("Give me the first three letters of the alphabet.", {"answer": ["a", "b", "c"]}),
    ("Who discovered penicillin?", {"answer": "Alexander Fleming"}),
    # held out
    ("What is the capital of Spain?", {"answer": "Madrid"}),
    ("How many hours are in a day?", {"answer": 24}),
    ("Is ice cold?", {"answer": True}),
    ("Name two colors of the rainbow.", {"answer": ["red", "green"]}),
    ("What is 9 plus 6?", {"answer": 15}),
    ("Who invented the telephone?", {"answer": "Alexander Graham Bell"}),
    ("What is the chemical symbol for water?", {"answer": "H2O"}),
    ("Can fish breathe air?", {"answer": False}),
    ("What is the tallest mountain on Earth?", {"answer": "Mount Everest"}),
    ("How many weeks are in a year?", {"answer": 52}),
]


def chat(question: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def write(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


if __name__ == "__main__":
    german = [chat(q, a) for q, a in GERMAN]
    as_json = [chat(q, json.dumps(a, ensure_ascii=False)) for q, a in JSON_ANSWERS]
    write("german.jsonl", german[:40])
    write("german_valid.jsonl", german[40:])
    write("json_answers.jsonl", as_json[:40])
    write("json_answers_valid.jsonl", as_json[40:])

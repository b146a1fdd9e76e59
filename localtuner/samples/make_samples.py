"""Regenerates the sample datasets in this folder: a small, hand-written sample of two product use cases.

    python localtuner/samples/make_samples.py [--cache-dir DIR]

The company is Lumora, a fictional shop for smart-home devices (hub, cameras, plugs, bulbs) with an
app and a cloud subscription (Cloud Plus).

* ``german.jsonl`` (48) / ``german_valid.jsonl`` (12): customer-support chats. Users write in
  English (mostly) or German; the assistant always answers in polite German (Sie-form). About 40%
  short questions, 35% longer problem descriptions answered in several sentences or numbered steps,
  25% multi-turn chats; a few have a system prompt naming the company.
* ``json_answers.jsonl`` (48) / ``json_answers_valid.jsonl`` (12): support messages (one-liners,
  ticket forms, long e-mails with signatures and quoted text) turned into the helpdesk API's ticket
  JSON (``TICKET_KEYS``). The assistant answer is compact JSON, nothing else; a few have a system
  prompt stating the schema, most rely on the format being learned.

The ticket schema lives here (``ticket_errors``) and the benchmark imports it. Writing the files
checks every example (schema, ids and e-mails really in the text, held-out prompts not in training);
with the tokenizer in the model cache it also prints the token-length distribution.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import re
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def text(s: str) -> str:
    """A multi-line literal without its source indentation and surrounding blank lines."""
    return inspect.cleandoc(s)


def chat(*turns: str, system: str | None = None) -> dict:
    """A chat from alternating user / assistant turns (user first, assistant last)."""
    assert len(turns) % 2 == 0, turns
    messages = [{"role": "system", "content": system}] if system else []
    for i, content in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": content})
    return {"messages": messages}


# =========================================================================== German support

SYS_DE_1 = (
    "Du bist der Kundenservice von Lumora. Antworte immer auf Deutsch und sieze die Kundinnen und Kunden."
)
SYS_DE_2 = 'You are the customer support assistant of Lumora, a smart-home shop. Always reply in German, politely, using "Sie".'
SYS_DE_3 = "Lumora Support: Antworte auf Deutsch, freundlich und knapp."

GERMAN_TRAIN = [
    # --- short questions
    chat(
        "I forgot my password for the Lumora app.",
        "Tippen Sie in der Lumora-App auf der Anmeldeseite auf „Passwort vergessen“. Sie erhalten dann eine "
        "E-Mail mit einem Link, über den Sie ein neues Passwort festlegen können.",
    ),
    chat(
        "Do you ship to Austria?",
        "Ja, wir liefern auch nach Österreich. Die Lieferung dauert dort in der Regel 3 bis 5 Werktage.",
    ),
    chat(
        "How long do I have to return an item?",
        "Sie können Artikel innerhalb von 30 Tagen nach Erhalt ohne Angabe von Gründen zurückgeben. Das "
        "kostenlose Rücksendeetikett finden Sie in Ihrem Kundenkonto unter „Meine Bestellungen“.",
        system=SYS_DE_1,
    ),
    chat(
        "Wo finde ich meine Rechnung?",
        "Ihre Rechnung finden Sie als PDF in Ihrem Kundenkonto unter „Meine Bestellungen“. Klicken Sie dort "
        "bei der jeweiligen Bestellung auf „Rechnung herunterladen“.",
    ),
    chat(
        "What does Cloud Plus cost?",
        "Lumora Cloud Plus kostet 3,99 € im Monat oder 39 € im Jahr. Sie können das Abonnement jederzeit zum "
        "Ende des Abrechnungszeitraums kündigen.",
    ),
    chat(
        "Can I pay with PayPal?",
        "Ja, Sie können bei uns mit PayPal bezahlen. Außerdem akzeptieren wir Kreditkarte, Lastschrift und "
        "Kauf auf Rechnung.",
    ),
    chat(
        "Does the Cam Outdoor work with 5 GHz WiFi?",
        "Die Lumora Cam Outdoor unterstützt nur WLAN im 2,4-GHz-Band. Wenn Ihr Router beide Frequenzen unter "
        "einem Namen sendet, verbindet sich die Kamera automatisch mit dem 2,4-GHz-Netz.",
        system=SYS_DE_2,
    ),
    chat(
        "hi, is the hub compatible with Alexa?",
        "Ja, der Lumora Hub funktioniert mit Amazon Alexa und Google Assistant. Aktivieren Sie dazu in der "
        "Alexa-App den Skill „Lumora Smart Home“ und melden Sie sich mit Ihrem Lumora-Konto an.",
    ),
    chat(
        "Wie lange ist die Garantie auf die Kameras?",
        "Auf alle Lumora-Kameras gewähren wir zwei Jahre Garantie ab dem Kaufdatum. Bitte bewahren Sie dafür "
        "Ihre Rechnung auf.",
    ),
    chat(
        "How do I change my delivery address?",
        "Solange Ihre Bestellung noch nicht versendet wurde, können Sie die Lieferadresse in Ihrem Kundenkonto "
        "unter „Meine Bestellungen“ ändern. Ist das Paket bereits unterwegs, wenden Sie sich bitte direkt an "
        "den Paketdienst.",
    ),
    chat(
        "When will I get my money back after a return?",
        "Sobald Ihre Rücksendung bei uns eingegangen und geprüft ist, erstatten wir den Betrag innerhalb von "
        "5 bis 7 Werktagen auf Ihr ursprüngliches Zahlungsmittel.",
        system=SYS_DE_3,
    ),
    chat(
        "Is there an app for Android?",
        "Ja, die Lumora-App gibt es kostenlos im Google Play Store und im Apple App Store. Für Android "
        "benötigen Sie Version 10 oder neuer.",
    ),
    chat(
        "how do i turn on two-factor authentication",
        "Öffnen Sie in der App „Konto“ > „Sicherheit“ und aktivieren Sie dort die "
        "Zwei-Faktor-Authentifizierung. Anschließend scannen Sie den angezeigten QR-Code mit Ihrer "
        "Authenticator-App.",
    ),
    chat(
        "Kann ich meine Bestellung noch stornieren?",
        "Solange Ihre Bestellung noch nicht versendet wurde, können Sie sie in Ihrem Kundenkonto unter „Meine "
        "Bestellungen“ kostenlos stornieren. Danach ist eine Rücksendung innerhalb von 30 Tagen möglich.",
        system=SYS_DE_1,
    ),
    chat(
        "Do you offer a student discount?",
        "Einen speziellen Studentenrabatt bieten wir leider nicht an. Wenn Sie unseren Newsletter abonnieren, "
        "erhalten Sie jedoch einen Gutschein über 10 % für Ihre erste Bestellung.",
    ),
    chat(
        "What are your support hours?",
        "Unser Kundenservice ist montags bis freitags von 8 bis 18 Uhr erreichbar. Über das Kontaktformular "
        "können Sie uns rund um die Uhr schreiben.",
    ),
    chat(
        "How many cameras can I connect to one hub?",
        "An einen Lumora Hub können Sie bis zu acht Kameras und insgesamt bis zu 64 Geräte anschließen.",
    ),
    chat(
        "Danke, das hat geholfen!",
        "Das freut mich sehr! Wenn Sie weitere Fragen haben, melden Sie sich gern jederzeit bei uns.",
        system=SYS_DE_2,
    ),
    chat(
        "Is express shipping available?",
        "Ja, innerhalb Deutschlands bieten wir Expressversand für 6,90 € an. Bei einer Bestellung bis 14 Uhr "
        "an einem Werktag wird Ihr Paket in der Regel am nächsten Werktag zugestellt.",
    ),
    # --- longer problem descriptions
    chat(
        "Hi, I set up my new Lumora Hub yesterday and everything worked fine at first. This morning the LED on "
        'the hub is blinking red and the app says "Hub offline". I already restarted my router and unplugged '
        "the hub for a minute, but nothing changed. All other devices in my home are online. What can I do?",
        "Das tut mir leid, dass Ihr Hub nicht mehr erreichbar ist. Ein rot blinkendes Licht bedeutet, dass der "
        "Hub keine Verbindung zum Internet herstellen kann. Bitte gehen Sie so vor:\n"
        "1. Prüfen Sie, ob das Netzwerkkabel fest im Hub und im Router steckt, oder versuchen Sie einen anderen "
        "LAN-Anschluss am Router.\n"
        "2. Halten Sie die Reset-Taste am Hub zehn Sekunden gedrückt, bis die LED orange blinkt.\n"
        "3. Richten Sie den Hub anschließend in der App unter „Gerät hinzufügen“ neu ein.\n"
        "Ihre Geräte und Automationen bleiben dabei in Ihrem Konto gespeichert.",
    ),
    chat(
        "I ordered a Lumora Cam Indoor last Tuesday (order LM-48213) and the tracking page has said "
        '"in transit" for five days now. I need the camera before I go on holiday next week. Could you please '
        "check what is going on and send a replacement if the package is lost?",
        "Vielen Dank für Ihre Nachricht, und bitte entschuldigen Sie die Verzögerung. Wenn die "
        "Sendungsverfolgung fünf Tage lang keinen neuen Status zeigt, starten wir beim Paketdienst einen "
        "Nachforschungsauftrag; das habe ich für Ihre Bestellung LM-48213 soeben veranlasst. Sollte das Paket "
        "bis Freitag nicht zugestellt sein, schicken wir Ihnen kostenlos per Express eine Ersatzkamera, damit "
        "Sie sie noch vor Ihrem Urlaub erhalten.",
    ),
    chat(
        "My Cloud Plus subscription was charged twice this month, once on the 1st and again on the 3rd, both "
        "3.99 EUR via PayPal. I only have one account and one subscription as far as I know. Please refund the "
        "duplicate payment.",
        "Bitte entschuldigen Sie die doppelte Abbuchung. In seltenen Fällen wird eine Zahlung erneut "
        "ausgelöst, wenn PayPal die erste Buchung verspätet bestätigt. Wir erstatten Ihnen den doppelt "
        "abgebuchten Betrag von 3,99 €; die Gutschrift ist in der Regel innerhalb von 3 bis 5 Werktagen auf "
        "Ihrem PayPal-Konto sichtbar. Ihr Abonnement läuft unverändert weiter.",
    ),
    chat(
        "Guten Tag, ich möchte meine Lumora Cam Outdoor zurückschicken, weil die Bildqualität nachts sehr "
        "schlecht ist. Die Kamera habe ich vor drei Wochen gekauft. Muss ich die Originalverpackung verwenden "
        "und wer bezahlt den Versand?",
        "Guten Tag, vielen Dank für Ihre Nachricht. Da Sie die Kamera vor drei Wochen gekauft haben, liegt die "
        "Rücksendung noch innerhalb unserer Rückgabefrist von 30 Tagen. Die Originalverpackung ist nicht "
        "zwingend nötig, der Artikel sollte aber gut geschützt verpackt sein. Das Rücksendeetikett ist für Sie "
        "kostenlos und steht in Ihrem Kundenkonto unter „Meine Bestellungen“ bereit. Übrigens lässt sich die "
        "Nachtsicht oft schon verbessern, wenn Sie in der App unter „Bild“ den Infrarotmodus auf „Automatisch“ "
        "stellen.",
        system=SYS_DE_1,
    ),
    chat(
        'Hello, I want to set up my new camera but the app always fails at the step "Connecting to Wi-Fi". I '
        "have typed the password very carefully several times. My router is a FritzBox 7590 and my phone is an "
        "iPhone 13. The camera is about two meters from the router.",
        "Vielen Dank für die ausführliche Beschreibung. Meistens liegt dieses Problem am WLAN-Frequenzband. "
        "Bitte versuchen Sie Folgendes:\n"
        "1. Stellen Sie sicher, dass in Ihrer FritzBox das 2,4-GHz-Band aktiviert ist, denn die Kamera "
        "unterstützt kein 5 GHz.\n"
        "2. Erlauben Sie der Lumora-App auf Ihrem iPhone unter „Einstellungen“ > „Lumora“ den Zugriff auf das "
        "lokale Netzwerk.\n"
        "3. Setzen Sie die Kamera zurück, indem Sie die Reset-Taste fünf Sekunden gedrückt halten, und starten "
        "Sie die Einrichtung erneut.\n"
        "Wenn es danach immer noch nicht klappt, schicken Sie uns bitte einen Screenshot der Fehlermeldung.",
    ),
    chat(
        "We are a small office with 12 employees and we are thinking about installing Lumora cameras at our "
        "entrance and in the storage room. Is it allowed to use them in a workplace in Germany, and can several "
        "people access the videos with their own logins?",
        "Vielen Dank für Ihr Interesse an Lumora. Mit der Funktion „Haushalt teilen“ können Sie weitere "
        "Personen einladen, die sich dann mit ihrem eigenen Konto anmelden; für jede Person legen Sie fest, ob "
        "sie nur das Livebild sehen oder auch Aufnahmen abrufen darf. Eine Rechtsberatung dürfen wir leider "
        "nicht geben. Für Videoüberwachung am Arbeitsplatz gelten in Deutschland strenge Datenschutzregeln, "
        "daher empfehlen wir Ihnen, vorab Ihren Datenschutzbeauftragten oder eine Fachanwältin zu fragen.",
    ),
    chat(
        "I received my order today but the box contained a Lumora Plug instead of the Lumora Bulb I ordered. "
        "The invoice in the box says Bulb. I don't want to pay for another shipment, how do we fix this?",
        "Es tut uns sehr leid, dass Sie den falschen Artikel erhalten haben. Selbstverständlich entstehen Ihnen "
        "dadurch keine Kosten. Wir senden Ihnen die bestellte Lumora Bulb umgehend zu und schicken Ihnen per "
        "E-Mail ein kostenloses Rücksendeetikett für den Lumora Plug. Bitte senden Sie den Plug innerhalb von "
        "14 Tagen mit diesem Etikett an uns zurück.",
        system=SYS_DE_3,
    ),
    chat(
        "Hallo, seit dem letzten App-Update bekomme ich keine Push-Benachrichtigungen mehr, wenn die Kamera "
        "eine Bewegung erkennt. In der App sehe ich die Aufnahmen aber ganz normal. Ich habe ein Samsung "
        "Galaxy S22. Können Sie mir helfen?",
        "Hallo, vielen Dank für Ihre Nachricht. Nach einem Update setzt Android die Benachrichtigungsrechte "
        "manchmal zurück. Bitte prüfen Sie Folgendes:\n"
        "1. Öffnen Sie auf Ihrem Smartphone „Einstellungen“ > „Apps“ > „Lumora“ > „Benachrichtigungen“ und "
        "aktivieren Sie diese.\n"
        "2. Wählen Sie unter „Akku“ die Option „Nicht eingeschränkt“, damit die App im Hintergrund aktiv "
        "bleiben darf.\n"
        "3. Kontrollieren Sie in der Lumora-App unter „Kamera“ > „Benachrichtigungen“, ob die "
        "Bewegungsmeldungen eingeschaltet sind.\n"
        "Danach sollten die Benachrichtigungen wieder zuverlässig ankommen.",
    ),
    chat(
        "I'm moving to a new apartment next month. What is the best way to move my whole Lumora setup (hub, "
        "3 cameras, 5 bulbs) without having to configure all the automations again?",
        "Gute Nachricht: Ihre Automationen sind in Ihrem Lumora-Konto gespeichert und nicht an die Wohnung "
        "gebunden. Gehen Sie nach dem Umzug am besten so vor:\n"
        "1. Schließen Sie zuerst den Hub an; wenn sich Ihr WLAN ändert, wählen Sie in der App „Hub“ > "
        "„Netzwerk ändern“.\n"
        "2. Die Glühbirnen verbinden sich über den Hub und müssen nicht neu eingerichtet werden.\n"
        "3. Bei den Kameras tragen Sie unter „Kamera“ > „WLAN ändern“ die neuen Zugangsdaten ein.\n"
        "Passen Sie zum Schluss die Adresse unter „Zuhause“ an, damit Automationen mit Sonnenaufgang und "
        "Sonnenuntergang die richtigen Zeiten verwenden.",
    ),
    chat(
        "Your website says the Cam Outdoor is weatherproof but after the heavy rain last weekend there is "
        "water inside the lens and the picture is blurry. I bought it in March. This is really disappointing "
        "for a product that costs 129 euros.",
        "Das tut uns leid, und wir verstehen Ihren Ärger. Die Lumora Cam Outdoor ist nach IP65 geschützt und "
        "sollte starkem Regen standhalten, daher handelt es sich um einen Garantiefall. Bitte schicken Sie uns "
        "über das Kontaktformular ein Foto der Kamera und Ihre Bestellnummer. Wir senden Ihnen dann kostenlos "
        "eine neue Kamera zu, noch bevor Sie die defekte zurückschicken.",
    ),
    chat(
        "Hi there, I'd like to delete my Lumora account and all the data you have about me, including the "
        "camera recordings in the cloud. I no longer use the products. How does that work and is it really "
        "permanent?",
        "Gern helfen wir Ihnen dabei. Sie können Ihr Konto in der App unter „Konto“ > „Datenschutz“ > „Konto "
        "löschen“ selbst löschen. Dabei werden alle persönlichen Daten und alle Cloud-Aufnahmen innerhalb von "
        "30 Tagen endgültig gelöscht; eine Wiederherstellung ist danach nicht möglich. Rechnungsdaten müssen "
        "wir aus gesetzlichen Gründen zehn Jahre aufbewahren. Ein laufendes Cloud-Plus-Abonnement kündigen Sie "
        "bitte vorher, damit keine weiteren Zahlungen anfallen.",
    ),
    chat(
        "I got an e-mail saying my payment failed for order LM-50277 and that the order will be cancelled in 48 "
        "hours. My credit card is valid and has enough balance. I tried again and the same thing happened. Is "
        "there a problem on your side?",
        "Vielen Dank für Ihre Nachricht. Eine abgelehnte Kreditkartenzahlung liegt meist an der "
        "Sicherheitsprüfung 3-D Secure Ihrer Bank. Bitte prüfen Sie, ob Sie die Zahlung in der App Ihrer Bank "
        "bestätigen müssen. Alternativ können Sie in Ihrem Kundenkonto bei der Bestellung LM-50277 auf "
        "„Zahlungsart ändern“ klicken und zum Beispiel PayPal wählen. Ihre Bestellung bleibt so lange "
        "reserviert.",
        system=SYS_DE_2,
    ),
    chat(
        "Ich habe zwei Lumora Bulbs im Wohnzimmer, die sich abends von selbst einschalten, obwohl ich keine "
        "Automation dafür eingerichtet habe. Das passiert fast jeden Abend, mal gegen 19 Uhr, mal etwas "
        "später. Woran kann das liegen?",
        "Das klingt nach einer Automation, die noch aktiv ist. Bitte prüfen Sie in der App unter "
        "„Automationen“, ob dort eine Regel mit „Sonnenuntergang“ eingetragen ist, denn der Sonnenuntergang "
        "verschiebt sich täglich und erklärt die wechselnde Uhrzeit. Schauen Sie auch unter „Haushalt "
        "teilen“, ob ein anderes Mitglied Ihres Haushalts eine Automation angelegt hat. Wenn Sie nichts "
        "finden, senden Sie uns bitte über „Hilfe“ > „Protokoll senden“ die Geräteprotokolle.",
    ),
    chat(
        "I bought the starter set as a gift for my father, but he already has a hub. Can I exchange only the "
        "hub for two extra bulbs, or do I need to return the whole set? The set is unopened.",
        "Was für eine schöne Geschenkidee! Einzelne Teile eines Sets können wir leider nicht umtauschen. Da "
        "das Set noch ungeöffnet ist, können Sie es aber innerhalb von 30 Tagen kostenlos zurückgeben und die "
        "Glühbirnen einzeln bestellen. Den Kaufpreis erstatten wir Ihnen, sobald die Rücksendung bei uns "
        "eingegangen ist.",
    ),
    chat(
        "Since yesterday the Lumora app crashes immediately after I open it. I already uninstalled and "
        "reinstalled it twice. iPhone 12, iOS 17.5. My cameras are still recording, I just can't see anything.",
        "Vielen Dank für die genauen Angaben, und entschuldigen Sie die Unannehmlichkeiten. Uns ist ein Fehler "
        "in der App-Version 4.2.0 bekannt, der unter iOS 17.5 zu Abstürzen beim Start führen kann. Ein Update "
        "mit der Fehlerbehebung ist bereits eingereicht und sollte in den nächsten ein bis zwei Tagen im App "
        "Store verfügbar sein. Bis dahin können Sie Ihre Kameras im Browser unter app.lumora.de ansehen; Ihre "
        "Aufnahmen gehen nicht verloren.",
    ),
    chat(
        "Can I use Lumora cameras without the Cloud Plus subscription? I don't want to pay monthly. Will I "
        "still get motion alerts and will recordings be saved somewhere?",
        "Ja, alle Lumora-Kameras funktionieren auch ohne Abonnement. Bewegungsbenachrichtigungen und das "
        "Livebild sind immer kostenlos. Ohne Cloud Plus werden Aufnahmen auf einer microSD-Karte in der "
        "Kamera gespeichert. Mit Cloud Plus werden die Videos zusätzlich 30 Tage lang in der Cloud gesichert, "
        "sodass sie auch bei einem Diebstahl der Kamera erhalten bleiben.",
    ),
    chat(
        "Hello, I run a small company and would like to buy 40 Lumora Plugs for our office building. Do you "
        "offer volume discounts and invoices with VAT shown for businesses? We are based in the Netherlands.",
        "Vielen Dank für Ihre Anfrage. Für Geschäftskunden bieten wir ab 20 Geräten Mengenrabatte an. Bitte "
        "schreiben Sie dafür an business@lumora.de und nennen Sie die gewünschte Menge sowie Ihre "
        "Umsatzsteuer-Identifikationsnummer. Für Unternehmen in den Niederlanden stellen wir die Rechnung im "
        "Reverse-Charge-Verfahren aus. Ein Angebot erhalten Sie in der Regel innerhalb eines Werktages.",
    ),
    # --- multi-turn
    chat(
        "My order hasn't arrived yet.",
        "Das tut mir leid. Können Sie mir bitte Ihre Bestellnummer nennen? Sie beginnt mit „LM-“ und steht in "
        "Ihrer Bestellbestätigung.",
        "LM-49102",
        "Vielen Dank. Ihre Bestellung LM-49102 wurde gestern versendet und ist laut Sendungsverfolgung heute "
        "in der Zustellung. Den Link zur Sendungsverfolgung finden Sie in Ihrem Kundenkonto unter „Meine "
        "Bestellungen“.",
    ),
    chat(
        "How do I cancel Cloud Plus?",
        "Sie können Cloud Plus in der App unter „Konto“ > „Abonnement“ > „Kündigen“ beenden. Das Abonnement "
        "läuft dann bis zum Ende des bezahlten Zeitraums weiter.",
        "And what happens to my recordings after that?",
        "Nach dem Ende des Abonnements bleiben Ihre Cloud-Aufnahmen noch 30 Tage abrufbar. Danach werden sie "
        "gelöscht; laden Sie wichtige Videos also am besten vorher herunter.",
    ),
    chat(
        "Hallo, meine Kamera zeigt nur noch ein schwarzes Bild.",
        "Hallo, das tut mir leid. Leuchtet die LED an der Kamera, und wenn ja, in welcher Farbe?",
        "Sie leuchtet blau.",
        "Ein blaues Licht bedeutet, dass die Kamera mit dem WLAN verbunden ist. Bitte prüfen Sie in der App "
        "unter „Kamera“ > „Privatsphäre“, ob der Privatsphäre-Modus eingeschaltet ist, denn dann wird das Bild "
        "absichtlich schwarz angezeigt.",
        "Ja, das war es. Danke!",
        "Sehr gern! Schön, dass es jetzt wieder funktioniert. Ich wünsche Ihnen einen schönen Tag.",
    ),
    chat(
        "Hi, I want to switch from monthly to yearly Cloud Plus.",
        "Gern! Wählen Sie dazu in der App unter „Konto“ > „Abonnement“ die Option „Jährlich“. Der Jahrespreis "
        "beträgt 39 € statt 47,88 € bei monatlicher Zahlung.",
        "Will I lose the rest of the month I already paid for?",
        "Nein, der bereits bezahlte Rest des laufenden Monats wird anteilig mit dem Jahresbeitrag verrechnet. "
        "Sie zahlen also nur die Differenz.",
        system=SYS_DE_2,
    ),
    chat(
        "I got a discount code from your newsletter but it doesn't work.",
        "Das tut mir leid. Welche Fehlermeldung wird Ihnen beim Einlösen angezeigt?",
        'It says "code not valid for items in your cart". I\'m buying a Cloud Plus gift card.',
        "Vielen Dank, das erklärt es. Newsletter-Gutscheine gelten nur für Geräte aus unserem Shop, nicht für "
        "Gutscheinkarten oder Abonnements. Wenn Sie zum Beispiel eine Kamera oder Glühbirnen in den Warenkorb "
        "legen, wird der Rabatt von 10 % automatisch abgezogen.",
    ),
    chat(
        "Can I change the e-mail address of my account?",
        "Ja, das geht in der App unter „Konto“ > „Profil“ > „E-Mail-Adresse ändern“. Anschließend bestätigen "
        "Sie die neue Adresse über den Link, den wir Ihnen per E-Mail schicken.",
        "I don't have access to the old address anymore, is that a problem?",
        "Nein, das ist kein Problem. Der Bestätigungslink wird nur an die neue Adresse gesendet. Zur "
        "Sicherheit fragen wir vorher Ihr aktuelles Passwort ab.",
    ),
    chat(
        "Guten Morgen, kann ich auf Rechnung bestellen?",
        "Guten Morgen! Ja, der Kauf auf Rechnung ist bei uns ab einem Bestellwert von 20 € möglich. Sie haben "
        "dann 14 Tage Zeit, den Betrag zu überweisen.",
        "Gilt das auch, wenn die Lieferadresse von der Rechnungsadresse abweicht?",
        "In diesem Fall ist der Kauf auf Rechnung leider nicht möglich, da unser Zahlungsanbieter dies aus "
        "Sicherheitsgründen nicht zulässt. Sie können dann zum Beispiel mit PayPal oder per Lastschrift "
        "bezahlen.",
        system=SYS_DE_1,
    ),
    chat(
        "My hub keeps disconnecting every few hours. It comes back on its own after about 10 minutes but my "
        "automations don't run while it's offline. This has been going on for a week.",
        "Das ist ärgerlich, danke für die genaue Beschreibung. Ist Ihr Hub per Netzwerkkabel oder per WLAN mit "
        "dem Router verbunden?",
        "Via WiFi. The router is in the hallway and the hub is in the living room, two walls in between.",
        "Dann liegt es sehr wahrscheinlich an einem schwachen WLAN-Signal. Ich empfehle Ihnen:\n"
        "1. Schließen Sie den Hub nach Möglichkeit per Netzwerkkabel an den Router an.\n"
        "2. Falls das nicht geht, stellen Sie den Hub näher an den Router oder verwenden Sie einen "
        "WLAN-Repeater.\n"
        "3. In der App unter „Hub“ > „Diagnose“ sehen Sie die Signalstärke; sie sollte mindestens „Gut“ "
        "anzeigen.\n"
        "Melden Sie sich gern wieder, falls die Verbindungsabbrüche danach weiterhin auftreten.",
    ),
    chat(
        "Hello, is the Lumora Cam Indoor in stock?",
        "Ja, die Lumora Cam Indoor ist derzeit auf Lager und wird innerhalb von 1 bis 2 Werktagen versendet.",
        "Great. Does it come with a memory card?",
        "Eine microSD-Karte ist nicht im Lieferumfang enthalten. Die Kamera unterstützt Karten mit bis zu "
        "256 GB; wir empfehlen eine Karte der Klasse U3 für zuverlässige Aufnahmen.",
    ),
    chat(
        "Ich habe mein Paket zurückgeschickt, aber noch kein Geld bekommen.",
        "Das tut mir leid. Wann haben Sie das Paket zurückgeschickt, und wie lautet Ihre Bestellnummer?",
        "Am 3. Mai, Bestellung LM-47720.",
        "Vielen Dank. Rücksendungen brauchen in der Regel drei bis fünf Werktage, bis sie bei uns ankommen; "
        "danach erstatten wir den Betrag innerhalb von 5 bis 7 Werktagen. Ich habe unser Lager gebeten, Ihre "
        "Rücksendung zur Bestellung LM-47720 vorrangig zu bearbeiten. Sie erhalten eine E-Mail, sobald die "
        "Erstattung veranlasst ist.",
    ),
    chat(
        "hey can I use the bulbs without the hub?",
        "Die Lumora Bulbs benötigen den Lumora Hub, da sie über Zigbee mit ihm kommunizieren. Ohne Hub lassen "
        "sie sich nur wie eine normale Glühbirne über den Lichtschalter ein- und ausschalten.",
        "ok and how many bulbs can one hub handle?",
        "Ein Lumora Hub kann bis zu 64 Geräte steuern, die Glühbirnen eingeschlossen.",
        system=SYS_DE_3,
    ),
    chat(
        "I need to update my billing address.",
        "Gern. Ihre Rechnungsadresse ändern Sie in Ihrem Kundenkonto unter „Konto“ > „Adressen“. Die neue "
        "Adresse gilt für alle künftigen Bestellungen.",
        "What about an invoice that was already issued?",
        "Für bereits ausgestellte Rechnungen schicken wir Ihnen gern eine korrigierte Rechnung. Bitte nennen "
        "Sie mir dafür die Bestellnummer und die richtige Adresse.",
        "Order LM-46318, new address: Bergstraße 12, 80331 München.",
        "Vielen Dank. Ich habe die Korrektur für die Bestellung LM-46318 veranlasst. Die neue Rechnung mit der "
        "Adresse Bergstraße 12, 80331 München erhalten Sie innerhalb von zwei Werktagen per E-Mail.",
    ),
]

GERMAN_VALID = [
    # --- short
    chat(
        "Do you deliver on Saturdays?",
        "Ja, unser Versandpartner DHL stellt auch samstags zu. Versendet werden die Pakete von Montag bis "
        "Freitag.",
    ),
    chat(
        "Wie viel kostet der Versand?",
        "Innerhalb Deutschlands ist der Versand ab einem Bestellwert von 50 € kostenlos. Darunter berechnen "
        "wir 4,90 €.",
    ),
    chat(
        "Is the Lumora Plug compatible with Google Home?",
        "Ja, der Lumora Plug funktioniert mit Google Home. Verknüpfen Sie dazu in der Google-Home-App Ihr "
        "Lumora-Konto unter „Gerät einrichten“ > „Funktioniert mit Google“.",
    ),
    chat(
        "How can I reach you by phone?",
        "Unseren telefonischen Kundenservice erreichen Sie montags bis freitags von 8 bis 18 Uhr. Die "
        "Telefonnummer finden Sie in der App unter „Hilfe“ > „Kontakt“.",
        system=SYS_DE_1,
    ),
    chat(
        "Can I give Cloud Plus as a gift?",
        "Ja, in unserem Shop gibt es Gutscheinkarten für Cloud Plus über 3, 6 oder 12 Monate. Die beschenkte "
        "Person löst den Code in der App unter „Konto“ > „Gutschein einlösen“ ein.",
    ),
    # --- longer problem descriptions
    chat(
        "I bought a Lumora Cam Outdoor three weeks ago and the battery only lasts about four days, although the "
        "product page promises up to three months. The camera is at my front door and records maybe 20 clips a "
        "day. Is the camera broken?",
        "Vielen Dank für Ihre Nachricht. Die Angabe von bis zu drei Monaten gilt für etwa fünf Aufnahmen pro "
        "Tag; bei 20 Clips täglich ist die Laufzeit deutlich kürzer, vier Tage sind aber trotzdem ungewöhnlich "
        "wenig. Bitte prüfen Sie in der App unter „Kamera“ > „Energie“, ob der Modus „Beste Videoqualität“ "
        "aktiv ist, und wechseln Sie zu „Ausgewogen“. Hält der Akku danach immer noch weniger als zwei Wochen, "
        "tauschen wir die Kamera im Rahmen der Garantie aus.",
    ),
    chat(
        "Hallo, ich habe aus Versehen zweimal dieselbe Bestellung aufgegeben, einmal mit PayPal und einmal auf "
        "Rechnung. Ich brauche aber nur einen Hub. Die Bestellnummern sind LM-51004 und LM-51005. Können Sie "
        "eine davon stornieren?",
        "Hallo, vielen Dank für Ihren Hinweis. Ich habe die Bestellung LM-51005 auf Rechnung storniert, sodass "
        "Sie hierfür nichts bezahlen müssen. Die Bestellung LM-51004 mit PayPal wird wie geplant versendet. "
        "Eine Bestätigung der Stornierung erhalten Sie in Kürze per E-Mail.",
    ),
    chat(
        "After the last firmware update my Lumora Plug no longer shows the energy consumption in the app. The "
        "plug still switches on and off normally. I tried removing it from the app and adding it again, but "
        "the energy graph is still empty.",
        "Vielen Dank für die genaue Beschreibung. Nach diesem Firmware-Update muss die Energiemessung einmalig "
        "neu kalibriert werden. Bitte gehen Sie so vor:\n"
        "1. Öffnen Sie in der App den Plug und tippen Sie auf „Einstellungen“ > „Energiemessung“.\n"
        "2. Wählen Sie „Neu kalibrieren“ und lassen Sie ein Gerät, zum Beispiel eine Lampe, fünf Minuten lang "
        "eingeschaltet.\n"
        "3. Nach etwa einer Stunde erscheinen die Werte wieder im Diagramm.\n"
        "Falls das Diagramm danach leer bleibt, melden Sie sich bitte noch einmal bei uns.",
    ),
    chat(
        "I'm writing on behalf of my mother who is 82. She received a Lumora starter set as a gift but she "
        "doesn't have a smartphone. Is there any way to use the cameras and bulbs without the app, for example "
        "with a tablet or a computer?",
        "Vielen Dank, dass Sie Ihrer Mutter helfen. Die Lumora-App läuft auch auf Tablets mit Android oder "
        "iPadOS, ein Smartphone ist also nicht nötig. Alternativ können Sie die Geräte am Computer im Browser "
        "unter app.lumora.de bedienen. Die Glühbirnen lassen sich außerdem jederzeit ganz normal über den "
        "Lichtschalter schalten. Für die erste Einrichtung wird allerdings einmal die App auf einem Tablet "
        "oder Smartphone benötigt.",
    ),
    # --- multi-turn
    chat(
        "I can't log in to my account.",
        "Das tut mir leid. Wird Ihnen beim Anmelden eine Fehlermeldung angezeigt?",
        "Yes, it says my account is locked.",
        "Nach fünf fehlgeschlagenen Anmeldeversuchen sperren wir ein Konto aus Sicherheitsgründen für 30 "
        "Minuten. Bitte warten Sie diese Zeit ab oder setzen Sie Ihr Passwort über „Passwort vergessen“ "
        "zurück; damit wird die Sperre sofort aufgehoben.",
    ),
    chat(
        "Hallo, ich möchte einen zweiten Hub für mein Ferienhaus kaufen.",
        "Gern! Sie können in der App mehrere Standorte anlegen und jedem Standort einen eigenen Hub zuordnen.",
        "Brauche ich dann auch ein zweites Cloud-Plus-Abo?",
        "Nein, ein Cloud-Plus-Abonnement gilt für alle Kameras in Ihrem Konto, unabhängig vom Standort. Sie "
        "zahlen also weiterhin nur einen Beitrag.",
        system=SYS_DE_2,
    ),
    chat(
        "My package was damaged.",
        "Das tut mir sehr leid. Ist auch der Artikel selbst beschädigt oder nur die Verpackung?",
        "The camera lens is cracked.",
        "Vielen Dank für die Information. Bitte schicken Sie uns über das Kontaktformular ein Foto der "
        "beschädigten Kamera und Ihre Bestellnummer. Wir senden Ihnen dann kostenlos Ersatz.",
        "Do I have to send the broken one back?",
        "Ja, bitte senden Sie die beschädigte Kamera mit dem kostenlosen Rücksendeetikett zurück, das wir "
        "Ihnen zusammen mit der Versandbestätigung für den Ersatz per E-Mail schicken. Sie haben dafür 14 "
        "Tage Zeit.",
    ),
]


# =========================================================================== ticket JSON

TICKET_KEYS = ("intent", "order_id", "customer_email", "product", "urgency", "summary")
INTENTS = (
    "order_status",
    "return_refund",
    "cancel_order",
    "change_order",
    "billing",
    "technical_issue",
    "account",
    "product_question",
    "complaint",
    "feedback",
    "other",
)
URGENCIES = ("low", "normal", "high")
PRODUCTS = (
    "Lumora Hub",
    "Lumora Cam Indoor",
    "Lumora Cam Outdoor",
    "Lumora Plug",
    "Lumora Bulb",
    "Lumora Starter Set",
    "Lumora Cloud Plus",
    "Lumora App",
)
ORDER_ID = re.compile(r"LM-\d{5}")

SYS_JSON_1 = (
    "Convert the customer message into a ticket for the Lumora helpdesk API. Reply with one JSON object "
    "and nothing else, with exactly these keys: intent (one of " + ", ".join(INTENTS) + "), order_id "
    '(like "LM-12345", or null), customer_email (or null), product (a Lumora product name, or null), '
    "urgency (low, normal or high), summary (one short English sentence)."
)
SYS_JSON_2 = "You turn Lumora support messages into helpdesk ticket JSON. Output JSON only."


def ticket_errors(obj) -> list[str]:
    """What makes ``obj`` not a valid ticket (empty list: valid). Used by the benchmark too."""
    if not isinstance(obj, dict):
        return [f"not a JSON object but {type(obj).__name__}"]
    errors = []
    if tuple(sorted(obj)) != tuple(sorted(TICKET_KEYS)):
        missing = [k for k in TICKET_KEYS if k not in obj]
        extra = [k for k in obj if k not in TICKET_KEYS]
        errors.append(f"keys: missing {missing}, unexpected {extra}")
    if "intent" in obj and obj["intent"] not in INTENTS:
        errors.append(f"intent {obj['intent']!r} is not one of {list(INTENTS)}")
    if "urgency" in obj and obj["urgency"] not in URGENCIES:
        errors.append(f"urgency {obj['urgency']!r} is not one of {list(URGENCIES)}")
    for key in ("order_id", "customer_email", "product"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            errors.append(f"{key} must be a string or null")
    if "summary" in obj and not (isinstance(obj["summary"], str) and obj["summary"].strip()):
        errors.append("summary must be a non-empty string")
    return errors


def ticket(
    message: str,
    intent: str,
    order_id: str | None,
    customer_email: str | None,
    product: str | None,
    urgency: str,
    summary: str,
    system: str | None = None,
) -> dict:
    """A chat whose answer is the ticket JSON for ``message`` (checked against the schema here)."""
    answer = {
        "intent": intent,
        "order_id": order_id,
        "customer_email": customer_email,
        "product": product,
        "urgency": urgency,
        "summary": summary,
    }
    assert not ticket_errors(answer), (ticket_errors(answer), message)
    # the reference answers must be right, not only well-formed
    assert product is None or product in PRODUCTS, product
    assert order_id is None or (ORDER_ID.fullmatch(order_id) and order_id[3:] in message), (order_id, message)
    assert customer_email is None or customer_email in message, (customer_email, message)
    assert len(summary.split()) <= 20 and summary.isascii(), summary
    return chat(message, json.dumps(answer, ensure_ascii=False), system=system)


JSON_TRAIN = [
    # --- one-liners
    ticket(
        "refund for #LM-40213 pls",
        "return_refund",
        "LM-40213",
        None,
        None,
        "normal",
        "Customer requests a refund for order LM-40213.",
    ),
    ticket(
        "where is my order LM-41877??",
        "order_status",
        "LM-41877",
        None,
        None,
        "normal",
        "Customer asks where order LM-41877 is.",
    ),
    ticket(
        "Cancel order LM-42005, I ordered the wrong one.",
        "cancel_order",
        "LM-42005",
        None,
        None,
        "normal",
        "Customer wants to cancel order LM-42005 after ordering the wrong item.",
        system=SYS_JSON_1,
    ),
    ticket(
        "app keeps crashing on android since update",
        "technical_issue",
        None,
        None,
        "Lumora App",
        "normal",
        "The Lumora app crashes on Android since the latest update.",
    ),
    ticket(
        "Does the Cam Outdoor work without Wi-Fi?",
        "product_question",
        None,
        None,
        "Lumora Cam Outdoor",
        "low",
        "Customer asks whether the Cam Outdoor works without Wi-Fi.",
    ),
    ticket(
        "someone logged into my account from another country, please lock it NOW",
        "account",
        None,
        None,
        None,
        "high",
        "Customer reports an unknown login and wants the account locked.",
    ),
    ticket(
        "Wo bleibt meine Bestellung LM-43310?",
        "order_status",
        "LM-43310",
        None,
        None,
        "normal",
        "Customer asks about the status of order LM-43310.",
    ),
    ticket(
        "charged twice for cloud plus this month. jana.koenig@web.de",
        "billing",
        None,
        "jana.koenig@web.de",
        "Lumora Cloud Plus",
        "normal",
        "Customer was charged twice for Cloud Plus this month.",
        system=SYS_JSON_2,
    ),
    ticket(
        "Great product, setup took 5 minutes. Thanks!",
        "feedback",
        None,
        None,
        None,
        "low",
        "Customer sends positive feedback about the quick setup.",
    ),
    ticket(
        "pls change shipping address for LM-44102 to Hauptstr. 5, 10115 Berlin",
        "change_order",
        "LM-44102",
        None,
        None,
        "normal",
        "Customer wants to change the shipping address of order LM-44102.",
    ),
    ticket(
        "Hub LED blinking red, no connection. Order 39981, m.ortega@gmail.com",
        "technical_issue",
        "LM-39981",
        "m.ortega@gmail.com",
        "Lumora Hub",
        "normal",
        "The Lumora Hub blinks red and has no connection.",
    ),
    ticket(
        "Is there a student discount?",
        "other",
        None,
        None,
        None,
        "low",
        "Customer asks about a student discount.",
    ),
    ticket(
        "Die Lumora Bulb flackert seit gestern.",
        "technical_issue",
        None,
        None,
        "Lumora Bulb",
        "normal",
        "A Lumora Bulb has been flickering since yesterday.",
        system=SYS_JSON_1,
    ),
    ticket(
        "URGENT: smoke coming out of my Lumora Plug!!",
        "technical_issue",
        None,
        None,
        "Lumora Plug",
        "high",
        "Customer reports smoke coming out of a Lumora Plug.",
    ),
    ticket(
        "how do I delete my account",
        "account",
        None,
        None,
        None,
        "normal",
        "Customer asks how to delete the account.",
    ),
    ticket(
        "Can I still cancel LM-45560? Just ordered 10 min ago",
        "cancel_order",
        "LM-45560",
        None,
        None,
        "normal",
        "Customer wants to cancel order LM-45560, placed ten minutes ago.",
    ),
    ticket(
        "invoice for LM-38842 please, need it for my tax return",
        "billing",
        "LM-38842",
        None,
        None,
        "normal",
        "Customer requests the invoice for order LM-38842.",
    ),
    ticket(
        "return label for the starter set doesn't print",
        "return_refund",
        None,
        None,
        "Lumora Starter Set",
        "normal",
        "Customer cannot print the return label for the Starter Set.",
    ),
    ticket(
        "Ich kann mich nicht mehr einloggen, die Mail zum Zurücksetzen des Passworts kommt nicht an. "
        "l.schmitt@t-online.de",
        "account",
        None,
        "l.schmitt@t-online.de",
        None,
        "high",
        "Customer cannot log in and gets no password reset e-mail.",
    ),
    # --- short messages and ticket forms
    ticket(
        "Hi, I ordered two Lumora Bulbs last week (order LM-46021) and only one arrived in the package. The "
        "packing slip lists two. Can you send the missing one? Thanks, Priya",
        "complaint",
        "LM-46021",
        None,
        "Lumora Bulb",
        "normal",
        "One of two Lumora Bulbs in order LM-46021 is missing.",
    ),
    ticket(
        text(
            """
            Subject: Camera offline
            From: tom.becker@posteo.de

            My Cam Indoor has been offline since the power cut on Sunday. The LED is solid orange. I've tried
            unplugging it and restarting the router. Everything else on the network works.
            """
        ),
        "technical_issue",
        None,
        "tom.becker@posteo.de",
        "Lumora Cam Indoor",
        "normal",
        "Cam Indoor is offline with a solid orange LED since a power cut.",
        system=SYS_JSON_1,
    ),
    ticket(
        "Hello, I'd like to return the Lumora Cam Outdoor from order LM-44890. It works fine but the field of "
        "view is too narrow for our driveway. It's been 12 days since delivery. Do I get the full price back "
        "including shipping?",
        "return_refund",
        "LM-44890",
        None,
        "Lumora Cam Outdoor",
        "normal",
        "Customer wants to return the Cam Outdoor because the field of view is too narrow.",
    ),
    ticket(
        text(
            """
            Guten Tag,

            ich würde gern wissen, ob der Lumora Hub auch mit Philips-Hue-Lampen funktioniert. Ich habe zu
            Hause schon zehn Hue-Lampen und möchte nicht alles austauschen.

            Viele Grüße
            Sabine Wolf
            """
        ),
        "product_question",
        None,
        None,
        "Lumora Hub",
        "low",
        "Customer asks whether the Lumora Hub works with Philips Hue lamps.",
    ),
    ticket(
        "my cloud plus renewed even though I cancelled it in the app 2 weeks ago!! I have the confirmation "
        "email. I want my 39 euros back. account: d.nowak@outlook.com",
        "billing",
        None,
        "d.nowak@outlook.com",
        "Lumora Cloud Plus",
        "normal",
        "Cloud Plus renewed after cancellation; customer wants the 39 euros back.",
    ),
    ticket(
        "Hi team, we need to add a second delivery address to order LM-47311 because half of the items should "
        "go to our office. Is that possible or should I cancel and order twice? Need everything by Friday for "
        "an event. - Marco, Lindner Events GmbH",
        "change_order",
        "LM-47311",
        None,
        None,
        "high",
        "Customer wants to split order LM-47311 across two addresses before Friday.",
    ),
    ticket(
        "The motion detection on my outdoor cam triggers all the time because of the tree in front of it. I "
        "get like 200 notifications a day. Is there a way to set zones or make it less sensitive?",
        "product_question",
        None,
        None,
        "Lumora Cam Outdoor",
        "low",
        "Customer asks how to reduce motion alerts caused by a tree.",
    ),
    ticket(
        "Hallo, meine Bestellung LM-45127 ist laut DHL zugestellt, aber ich habe kein Paket bekommen. Auch bei "
        "den Nachbarn wurde nichts abgegeben. Was kann ich tun? Gruß, Kemal Aydin, kemal.aydin@gmx.de",
        "order_status",
        "LM-45127",
        "kemal.aydin@gmx.de",
        None,
        "normal",
        "Order LM-45127 is marked as delivered but never arrived.",
        system=SYS_JSON_2,
    ),
    ticket(
        "I paid by invoice for LM-43998 and transferred the money on the 2nd, but today I got a payment "
        "reminder with a 5 euro fee. Please remove the fee, I have the bank statement.",
        "billing",
        "LM-43998",
        None,
        None,
        "normal",
        "Customer paid order LM-43998 but got a reminder with a fee.",
    ),
    ticket(
        "hey, I changed my phone and now the 2FA codes don't work anymore, I can't get into my account and I "
        "can't see my cameras. I'm away from home for two weeks so this is pretty urgent. email is "
        "sam.okafor@proton.me",
        "account",
        None,
        "sam.okafor@proton.me",
        None,
        "high",
        "Customer lost two-factor access after changing phones and is locked out.",
    ),
    ticket(
        "Do you sell a solar panel for the Cam Outdoor? I'd rather not climb up the ladder every month to "
        "charge it. If yes, what does it cost and is it in stock?",
        "product_question",
        None,
        None,
        "Lumora Cam Outdoor",
        "low",
        "Customer asks about a solar panel for the Cam Outdoor.",
    ),
    ticket(
        "Order LM-48007 arrived today and the Hub box was crushed. The hub itself seems to work but there is a "
        "crack in the casing. I'd like a replacement, not a refund. Photos attached.",
        "complaint",
        "LM-48007",
        None,
        "Lumora Hub",
        "normal",
        "Hub from order LM-48007 arrived with a cracked casing; customer wants a replacement.",
    ),
    ticket(
        "Please change the name on my account from Anna Berg to Anna Berg-Lindqvist, I got married. My login "
        "is anna.berg@mailbox.org. Thanks!",
        "account",
        None,
        "anna.berg@mailbox.org",
        None,
        "low",
        "Customer wants to change the name on the account after marriage.",
    ),
    ticket(
        "The Lumora Plug in my kitchen turns itself off every night at 23:00. I don't have any schedule set "
        "up. It's the one connected to the fridge, so this is a problem - the food could spoil!",
        "technical_issue",
        None,
        None,
        "Lumora Plug",
        "high",
        "Lumora Plug powering a fridge switches off every night at 23:00.",
    ),
    ticket(
        "Moin, ich möchte bei meiner Bestellung LM-46650 noch eine zweite Cam Indoor dazunehmen. Das Paket ist "
        "doch bestimmt noch nicht raus, oder? Danke!",
        "change_order",
        "LM-46650",
        None,
        "Lumora Cam Indoor",
        "normal",
        "Customer wants to add a second Cam Indoor to order LM-46650.",
    ),
    ticket(
        "I was charged 129 € for the Cam Outdoor but it was on sale for 99 € on the day I ordered "
        "(LM-45902). Screenshot attached. Can you refund the difference?",
        "billing",
        "LM-45902",
        None,
        "Lumora Cam Outdoor",
        "normal",
        "Customer wants the 30 euro sale price difference for order LM-45902 refunded.",
    ),
    ticket(
        "Hi, just wanted to say your support guy Jonas was super helpful yesterday with my hub setup. 10/10. "
        "- Claire (claire.dubois@orange.fr)",
        "feedback",
        None,
        "claire.dubois@orange.fr",
        "Lumora Hub",
        "low",
        "Customer praises support agent Jonas for help with the hub setup.",
    ),
    # --- long e-mails
    ticket(
        text(
            """
            Hello Lumora support,

            thanks for your quick reply last week. Unfortunately the problem is still not solved. As you
            suggested I reset the Cam Outdoor (held the button for ten seconds until the light blinked),
            deleted it from the app and added it again. It worked for about two days and then it went offline
            again on Thursday night. The camera is mounted on the garage, roughly eight metres from the
            router, and my phone shows full Wi-Fi signal right next to it. We also have a Lumora Cam Indoor in
            the hallway which has never had any problems.

            I don't want to keep resetting it every few days. We bought the camera because there were two
            break-ins in our street this spring, so it is important to us that it actually records at night.
            If it's a hardware fault I would like a replacement under warranty. The order number was
            LM-41230, bought in April.

            By the way, the new app design looks nice, but I can't find the night vision setting anymore.

            Best regards,
            Henrik Larsen
            henrik.larsen@gmail.com
            +49 151 2345 6789

            > On 12 May, Lumora Support wrote:
            > Dear Mr Larsen, please reset the camera by holding the reset button for ten
            > seconds, then remove it from the app and add it again. Let us know if this helps.
            """
        ),
        "technical_issue",
        "LM-41230",
        "henrik.larsen@gmail.com",
        "Lumora Cam Outdoor",
        "high",
        "Cam Outdoor keeps going offline after a reset; customer wants a warranty replacement.",
    ),
    ticket(
        text(
            """
            Hi there,

            I hope you're doing well. So, a bit of background first: my husband and I renovated our flat over
            the winter and decided to finally make it a bit smarter. My brother-in-law recommended Lumora
            because he's had your cameras for years, and we ordered the Starter Set plus four extra bulbs in
            January (order LM-39870). Honestly the set itself is fine, the hub was easy to set up and the app
            is clear.

            The issue is the bulbs. We have old dimmer switches in the living room and the bulbs hum and
            flicker whenever the dimmer is not at full brightness. An electrician told us we'd have to replace
            all the dimmers, which we don't want to do right now because the walls were just painted. So we'd
            like to send back the four extra bulbs (not the set) and get a refund. They're in their original
            boxes, we only tried two of them.

            I realise it's been a bit more than 30 days - we were travelling in February and only got to
            install everything last weekend. I hope you can make an exception.

            Thanks a lot and kind regards,
            Marta Kowalski
            Sent from my iPad
            """
        ),
        "return_refund",
        "LM-39870",
        None,
        "Lumora Bulb",
        "normal",
        "Customer wants to return four bulbs that flicker on dimmers, after the 30-day window.",
    ),
    ticket(
        text(
            """
            Sehr geehrte Damen und Herren,

            am 28. März habe ich bei Ihnen eine Lumora Cam Indoor und zwei Lumora Plugs bestellt,
            Bestellnummer LM-42761. Laut Bestätigungsmail sollte die Lieferung zwei bis vier Werktage dauern.
            Inzwischen sind fast drei Wochen vergangen, und die Sendungsverfolgung zeigt seit dem 31. März
            unverändert „Sendung wurde im Paketzentrum bearbeitet“.

            Ich habe bereits zweimal über Ihr Kontaktformular geschrieben, aber nur eine automatische Antwort
            erhalten. Die Kamera sollte ein Geburtstagsgeschenk für meine Mutter sein. Falls das Paket
            verloren gegangen ist, möchte ich keine neue Lieferung, sondern den vollen Betrag zurück.

            Mit freundlichen Grüßen
            Dr. Ulrike Brandt
            ulrike.brandt@netcologne.de
            """
        ),
        "order_status",
        "LM-42761",
        "ulrike.brandt@netcologne.de",
        None,
        "normal",
        "Order LM-42761 stuck in transit for three weeks; customer wants a refund if lost.",
        system=SYS_JSON_2,
    ),
    ticket(
        text(
            """
            Dear Sir or Madam,

            I am writing regarding our company account. We are a small property management firm and use 14
            Lumora Cam Outdoor cameras across three buildings, all on Cloud Plus. Our accounting department
            noticed that since January we have been billed for 16 cameras instead of 14. Two cameras were
            removed from the app in December when we sold one of the buildings, but the subscription
            apparently still counts them.

            That's 2 x 3.99 EUR per month for four months, so 31.92 EUR in total. Could you please correct the
            subscription and credit the difference to our account? We would also need corrected invoices for
            January to April for our bookkeeping, as the auditors are coming in June.

            Our customer number is K-220915 and the account e-mail is it@hausverwaltung-ebert.de.

            Kind regards,

            Stefan Ebert
            Managing Director
            Hausverwaltung Ebert GmbH
            Am Markt 7, 01067 Dresden

            This e-mail may contain confidential information. If you are not the intended recipient, please
            notify the sender and delete this e-mail.
            """
        ),
        "billing",
        None,
        "it@hausverwaltung-ebert.de",
        "Lumora Cloud Plus",
        "normal",
        "Company billed for 16 instead of 14 Cloud Plus cameras; wants a credit and corrected invoices.",
    ),
    ticket(
        text(
            """
            Hi,

            I think my Lumora account was hacked. Yesterday evening I got an e-mail that someone logged in
            from Jakarta, Indonesia, and a few minutes later another e-mail saying my password was changed. I
            did NOT do this. I live in Hamburg and haven't travelled anywhere.

            I tried to log in with my old password and of course it doesn't work. The password reset e-mail
            arrives, but when I click the link it says 'link expired', even if I click it right away. I tried
            three times.

            What really worries me is that this account has access to the cameras inside our house, including
            the one in the kids' room. I've unplugged all the cameras for now but I need this fixed
            immediately. Please lock the account, end all sessions and help me get back in.

            My account e-mail is felix.hartmann@icloud.com. Call me at 0176 55512345 if you like, I'm
            available all day.

            Felix
            """
        ),
        "account",
        None,
        "felix.hartmann@icloud.com",
        None,
        "high",
        "Account taken over from abroad and the reset link expires; customer needs it locked now.",
        system=SYS_JSON_1,
    ),
    ticket(
        text(
            """
            Hello,

            we're building a house in Freiburg and moving in around September. At the moment I'm planning the
            smart home part and comparing a few systems. I have some questions about Lumora before we decide:

            1. Can the Lumora Hub be mounted in a network cabinet in the basement, or does it need to be in
            the middle of the house for the bulbs to work? The house has three floors and concrete ceilings.
            2. Is there a local API or does everything go through your cloud? I'm a software developer and
            I'd like to integrate it with Home Assistant.
            3. If your servers are down, do automations still run?
            4. Do you plan to support Matter?

            We'd probably need around 30 bulbs, 10 plugs and 4 outdoor cameras, so it's a fairly large order.

            No rush with the answer, we're still a few months away from buying anything.

            Thanks,
            Jonas Weber
            """
        ),
        "product_question",
        None,
        None,
        "Lumora Hub",
        "low",
        "Prospective customer asks about hub placement, a local API, offline automations and Matter.",
    ),
    ticket(
        text(
            """
            Hello again,

            I'm replying to the order confirmation below. I placed this order on Saturday but on Sunday my
            partner told me he had already bought the same cameras from another shop as a surprise, so we now
            have two of everything. Please cancel my order before it ships. If it has already shipped, please
            tell me how to send it back without paying for return shipping.

            Sorry for the trouble and thanks for your help!
            Lena

            ----- Original message -----
            From: Lumora Shop <orders@lumora.de>
            To: lena.fischer@posteo.net
            Subject: Your order LM-48533

            Hello Lena,

            thank you for your order!

            Order number: LM-48533
            2 x Lumora Cam Indoor    89.00 EUR
            1 x microSD card 64 GB   12.90 EUR
            Total                   190.90 EUR

            We'll let you know as soon as your package has shipped.

            Your Lumora team
            """
        ),
        "cancel_order",
        "LM-48533",
        "lena.fischer@posteo.net",
        "Lumora Cam Indoor",
        "normal",
        "Customer wants to cancel order LM-48533 before it ships.",
    ),
    ticket(
        text(
            """
            To whom it may concern,

            I have been a customer since 2021 and I have never written a complaint before, but this time I
            have to. Last month you released app update 4.2 and since then the live view of all three of my
            cameras takes 20 to 30 seconds to load, sometimes it doesn't load at all. Before the update it was
            instant. I'm paying 39 euros a year for Cloud Plus and frankly this is not the service I'm paying
            for.

            I contacted your chat twice. The first agent told me to reinstall the app (done, no change), the
            second one told me it's my internet connection. My internet is 250 Mbit fibre and all my other
            apps work fine. I also tested it on my wife's phone with the same result.

            I don't want another generic answer. Either fix the app or give me a refund for this year's
            subscription.

            Regards,
            P. Nguyen
            phuc.nguyen@freenet.de
            """
        ),
        "complaint",
        None,
        "phuc.nguyen@freenet.de",
        "Lumora App",
        "normal",
        "Live view takes 20-30 seconds since app 4.2; customer wants a fix or a refund.",
    ),
    ticket(
        text(
            """
            Hi Lumora,

            quick question about my order, LM-47902. I ordered a Lumora Hub, a Cam Outdoor and three plugs on
            the 14th and paid with PayPal right away. The confirmation e-mail said it would ship within 1-2
            days, but the order page still says 'processing' a week later and I haven't received a shipping
            notification.

            The reason I'm asking is that I'm flying to Lisbon on the 30th for three weeks and I'd really like
            to have the outdoor camera installed before I leave - our neighbours had their garden shed broken
            into last month. If it can't arrive before the 28th, I'd rather cancel the camera and keep the
            rest.

            Could you let me know what's going on and when it will ship?

            Cheers,
            Daniel Murphy

            --
            Daniel Murphy | Senior Product Designer
            Northwind Studio, Berlin
            daniel.murphy@northwind-studio.com
            """
        ),
        "order_status",
        "LM-47902",
        "daniel.murphy@northwind-studio.com",
        None,
        "high",
        "Order LM-47902 not shipped after a week; customer needs it before the 28th.",
    ),
    ticket(
        text(
            """
            Hallo liebes Lumora-Team,

            ich habe gestern Abend die Bestellung LM-48870 aufgegeben (ein Starter-Set und zwei zusätzliche
            Plugs). Leider habe ich erst heute früh gemerkt, dass als Lieferadresse noch unsere alte Wohnung
            eingetragen ist. Wir sind vor drei Wochen umgezogen.

            Die richtige Adresse lautet:
            Familie Schneider
            Kastanienweg 19
            70597 Stuttgart

            Könnten Sie die Lieferadresse bitte noch ändern, bevor das Paket verschickt wird? Falls das nicht
            mehr geht, geben Sie mir bitte kurz Bescheid.

            Vielen Dank und viele Grüße
            Kathrin Schneider
            k.schneider@mailbox.org
            """
        ),
        "change_order",
        "LM-48870",
        "k.schneider@mailbox.org",
        "Lumora Starter Set",
        "normal",
        "Customer wants to change the delivery address of order LM-48870.",
    ),
    ticket(
        text(
            """
            Hello support,

            I'm having trouble with my Lumora Plugs after switching internet provider. We moved from Telekom
            to Vodafone last Friday and got a new router. I gave the new Wi-Fi the same name and password as
            the old one, hoping everything would just reconnect. The cameras did reconnect, the hub is on
            ethernet so that's fine too, but the four plugs are all stuck in 'offline'.

            I reset one plug (long press 6 seconds, LED flashes quickly) and tried adding it again, but the
            app stops at 'Searching for device' and after two minutes shows this:

              Error E-204: device not found on local network (timeout)

            My phone is on the same Wi-Fi. I also turned off the 5 GHz band temporarily, no change. The plugs
            control the lamps in our living room and the aquarium heater, so I've plugged the heater directly
            into the wall for now.

            Is there a known issue with Vodafone routers? Any setting I should change?

            Thanks in advance,
            Ahmed Rahimi
            (the plugs were order LM-31207)
            """
        ),
        "technical_issue",
        "LM-31207",
        None,
        "Lumora Plug",
        "normal",
        "Four Lumora Plugs are offline with error E-204 after a router change.",
    ),
    ticket(
        text(
            """
            Dear Lumora team,

            under Article 15 of the GDPR I request a copy of all personal data you hold about me, including
            my account details, order history, payment records, support conversations, device logs, and any
            camera recordings or thumbnails stored on your servers. Please also tell me for what purposes the
            data is processed, which third parties it has been shared with, and how long it will be stored.

            For identification: my account is registered under r.meier@gmx.ch, and my most recent order was
            LM-46214, delivered in May.

            I would prefer to receive the data in a machine-readable format (JSON or CSV) via a secure
            download link. As you know, you are required to respond within one month.

            I'd also like to say that I am generally happy with the products; this request is part of a
            review of all the services I use.

            Kind regards,
            Regula Meier
            Zürich, Switzerland
            """
        ),
        "account",
        "LM-46214",
        "r.meier@gmx.ch",
        None,
        "normal",
        "Customer requests a copy of all personal data under GDPR Article 15.",
    ),
]

JSON_VALID = [
    # --- one-liners
    ticket(
        "where's my stuff, order LM-49015, ordered 6 days ago",
        "order_status",
        "LM-49015",
        None,
        None,
        "normal",
        "Customer asks about order LM-49015, placed six days ago.",
    ),
    ticket(
        "I want my money back for the bulbs, they don't fit my lamps",
        "return_refund",
        None,
        None,
        "Lumora Bulb",
        "normal",
        "Customer wants a refund because the bulbs do not fit the lamps.",
    ),
    ticket(
        "Hat die Cam Indoor ein Mikrofon?",
        "product_question",
        None,
        None,
        "Lumora Cam Indoor",
        "low",
        "Customer asks whether the Cam Indoor has a microphone.",
    ),
    ticket(
        "can't log in, says account locked. need to check my cameras asap, tim.vogel@gmail.com",
        "account",
        None,
        "tim.vogel@gmail.com",
        None,
        "high",
        "Customer is locked out and urgently needs camera access.",
        system=SYS_JSON_1,
    ),
    ticket(
        "please cancel LM-49230",
        "cancel_order",
        "LM-49230",
        None,
        None,
        "normal",
        "Customer wants to cancel order LM-49230.",
    ),
    # --- short messages and ticket forms
    ticket(
        text(
            """
            Subject: Wrong invoice amount
            From: b.kraus@firma-kraus.de

            Hello, the invoice for order LM-47455 shows 149 EUR but the order confirmation says 129 EUR
            because I used the code SPRING20. Please send a corrected invoice and refund the 20 EUR.
            """
        ),
        "billing",
        "LM-47455",
        "b.kraus@firma-kraus.de",
        None,
        "normal",
        "Invoice for order LM-47455 ignores the SPRING20 discount; customer wants 20 euros back.",
    ),
    ticket(
        "Hi! The night vision on my Cam Indoor stopped working, the picture is completely black at night now, "
        "during the day it's fine. I already checked that the IR setting is on auto. Bought it in January, "
        "order LM-40588.",
        "technical_issue",
        "LM-40588",
        None,
        "Lumora Cam Indoor",
        "normal",
        "Cam Indoor night vision stopped working; the image is black at night.",
    ),
    ticket(
        "Hallo, ich bin wirklich enttäuscht. Zum zweiten Mal kommt eine Lieferung von Ihnen beschädigt an, "
        "diesmal ist der Lumora Hub völlig zerkratzt. Ich erwarte Ersatz und eine Entschädigung für den "
        "Ärger. Bestellung LM-48120.",
        "complaint",
        "LM-48120",
        None,
        "Lumora Hub",
        "normal",
        "Second damaged delivery: the Hub arrived scratched; customer wants a replacement and compensation.",
    ),
    ticket(
        "Thank you so much for replacing my camera so quickly, the new one works perfectly and I really "
        "appreciate that you didn't make me wait for the old one to arrive first. Best, Ingrid "
        "(ingrid.holm@telia.se)",
        "feedback",
        None,
        "ingrid.holm@telia.se",
        None,
        "low",
        "Customer thanks support for the quick camera replacement.",
    ),
    # --- long e-mails
    ticket(
        text(
            """
            Hello,

            following up on my chat with your colleague Miriam on Monday (ticket 88213). She said I would get
            a return label by e-mail within 24 hours, but nothing has arrived, and I've also checked my spam
            folder.

            To recap: I ordered a Lumora Starter Set on 2 June, order LM-47740. The hub works, but one of the
            two bulbs in the set was dead on arrival - it doesn't light up at all, not even in a normal lamp.
            Miriam agreed that the whole set can be returned for a full refund, since I'd rather buy a
            different system now. I have repacked everything in the original box.

            I'm going on holiday on Saturday and would like to drop the package at the post office before
            then, otherwise it will be another three weeks.

            Could you please send the label today?

            Thanks,
            Oliver Grant
            oliver.grant@btinternet.com

            > From: Lumora Chat
            > Miriam: I have requested a return label for your order. You will receive it
            > by e-mail within 24 hours.
            """
        ),
        "return_refund",
        "LM-47740",
        "oliver.grant@btinternet.com",
        "Lumora Starter Set",
        "high",
        "Customer still waits for the return label for order LM-47740 and leaves on Saturday.",
    ),
    ticket(
        text(
            """
            Guten Abend,

            seit ungefähr einer Woche verliert meine Lumora Cam Outdoor jede Nacht zwischen zwei und vier Uhr
            die Verbindung. Morgens ist sie wieder online, aber in der Zeitleiste fehlen genau diese Stunden.
            Die Kamera hängt über der Garage, etwa zehn Meter vom Router entfernt, und hat laut App ein gutes
            WLAN-Signal.

            Firmware ist aktuell, der Router wurde neu gestartet, und die WLAN-Nachtabschaltung ist aus.
            Gerade nachts ist die Kamera für uns wichtig, weil in unserer Straße mehrfach eingebrochen wurde.

            Viele Grüße
            Markus Albrecht
            markus.albrecht@web.de
            """
        ),
        "technical_issue",
        None,
        "markus.albrecht@web.de",
        "Lumora Cam Outdoor",
        "high",
        "Cam Outdoor loses its connection every night between 2 and 4 a.m.",
    ),
    ticket(
        text(
            """
            Dear Lumora,

            my father passed away in April and I am taking care of his accounts. He had a Lumora Cloud Plus
            subscription which is still being charged to his credit card every month (3.99 EUR). His house
            has been sold and the cameras were removed, so the subscription is no longer needed.

            I could not cancel it in the app because I don't know his password, and the password reset goes
            to his old e-mail address, walter.jansen@t-online.de, which I can't access. I can send you a copy
            of the death certificate and the certificate of inheritance if that helps.

            Could you please cancel the subscription and, if possible, refund the payments for May and June?
            Please reply to my own address below.

            Thank you for your understanding.

            Kind regards,
            Petra Jansen-Roth
            petra.jansen-roth@gmx.de
            """
        ),
        "billing",
        None,
        "petra.jansen-roth@gmx.de",
        "Lumora Cloud Plus",
        "normal",
        "Daughter asks to cancel her late father's Cloud Plus and refund May and June.",
        system=SYS_JSON_2,
    ),
]


# =========================================================================== checks, files, statistics


def prompt_of(row: dict) -> tuple[str, ...]:
    return tuple(m["content"] for m in row["messages"] if m["role"] == "user")


def check(train: list[dict], valid: list[dict]) -> None:
    for row in train + valid:
        roles = [m["role"] for m in row["messages"] if m["role"] != "system"]
        assert roles == ["user", "assistant"] * (len(roles) // 2), roles
    seen = {content for row in train for content in prompt_of(row)}
    for row in valid:
        leaked = [c for c in prompt_of(row) if c in seen]
        assert not leaked, f"held-out prompt also in training: {leaked}"
    answers = [m["content"] for row in train + valid for m in row["messages"] if m["role"] == "assistant"]
    assert len(set(answers)) == len(answers), "duplicate answers"


def write(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def padding_share(lengths: list[int], batch_size: int = 8, shuffles: int = 200) -> float:
    """Share of computed positions that are padding when random batches are padded to their longest."""
    padded = useful = 0
    for seed in range(shuffles):
        order = list(lengths)
        random.Random(seed).shuffle(order)
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size]
            padded += max(batch) * len(batch)
            useful += sum(batch)
    return 1 - useful / padded


def print_statistics(files: dict[str, list[dict]], model: str, cache_dir: Path) -> None:
    sys.path.insert(0, str(HERE.parent.parent))
    from localtuner.engine.basemodels import load_tokenizer
    from localtuner.engine.data import chat_example

    tokenizer = load_tokenizer(model, cache_dir=cache_dir)
    print(f"tokens per chat ({model} chat template, as the engine encodes them):")
    for name, rows in files.items():
        examples = [chat_example(tokenizer, row, i + 1, 10**6) for i, row in enumerate(rows)]
        lengths = sorted(len(e) for e in examples)
        assert lengths[-1] < 512, f"{name}: an example has {lengths[-1]} tokens; the engine truncates at 512"
        trained = sum(e.n_trained for e in examples)
        print(
            f"  {name:26} {len(rows):3} chats  min/median/max {lengths[0]:3}/{statistics.median(lengths):5.0f}/"
            f"{lengths[-1]:3}  mean {statistics.mean(lengths):5.1f}  total {sum(lengths):6}  "
            f"(answers {trained:5})  padding share in random batches of 8: {padding_share(lengths):.0%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="SmolLM2-135M-Instruct", help="tokenizer for the length statistics"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(
            os.environ.get("FINEWEB_MODEL_CACHE_DIR") or Path(tempfile.gettempdir()) / "fineweb-model-cache"
        ),
    )
    args = parser.parse_args()
    check(GERMAN_TRAIN, GERMAN_VALID)
    check(JSON_TRAIN, JSON_VALID)
    files = {
        "german.jsonl": GERMAN_TRAIN,
        "german_valid.jsonl": GERMAN_VALID,
        "json_answers.jsonl": JSON_TRAIN,
        "json_answers_valid.jsonl": JSON_VALID,
    }
    for name, rows in files.items():
        write(name, rows)
    print(f"wrote {', '.join(f'{name} ({len(rows)})' for name, rows in files.items())} to {HERE}")
    try:
        print_statistics(files, args.model, args.cache_dir)
    except (ImportError, OSError, KeyError) as exc:
        print(f"token statistics skipped: {args.model} could not be loaded from {args.cache_dir} ({exc})")


if __name__ == "__main__":
    main()

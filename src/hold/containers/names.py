"""Container names: validation and Docker-style random names."""

from __future__ import annotations

import random
import re

from hold.errors import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

ADJECTIVES = (
    "admiring adoring affectionate agitated amazing angry awesome beautiful "
    "blissful bold boring brave busy charming clever compassionate competent "
    "confident cool cranky crazy dazzling determined distracted dreamy eager "
    "ecstatic elastic elated elegant eloquent epic exciting fervent festive "
    "flamboyant focused friendly frosty funny gallant gifted goofy gracious "
    "great happy hardcore heuristic hopeful hungry infallible inspiring "
    "intelligent interesting jolly jovial keen kind laughing loving lucid "
    "magical modest musing mystifying naughty nervous nice nifty nostalgic "
    "objective optimistic peaceful pedantic pensive practical priceless quirky "
    "quizzical recursing relaxed reverent romantic sad serene sharp silly "
    "sleepy stoic strange stupefied suspicious sweet tender thirsty trusting "
    "unruffled upbeat vibrant vigilant vigorous wizardly wonderful xenodochial "
    "youthful zealous zen").split()

SURNAMES = (
    "agnesi albattani allen almeida antonelli archimedes ardinghelli aryabhata "
    "austin babbage banach bardeen bartik bassi beaver bell benz bhabha "
    "bhaskara black blackburn blackwell bohr booth borg bose boyd brahmagupta "
    "brattain brown buck burnell cannon carson cartwright carver cerf "
    "chandrasekhar chaplygin chatelet chatterjee chaum chebyshev clarke cohen "
    "colden cori cray curie curran darwin davinci dewdney dhawan diffie "
    "dijkstra dirac driscoll dubinsky easley edison einstein elbakyan elgamal "
    "elion ellis engelbart euclid euler faraday feistel fermat fermi feynman "
    "franklin gagarin galileo galois ganguly gates gauss germain goldberg "
    "goldstine goldwasser golick goodall gould greider grothendieck haibt "
    "hamilton hawking hellman heisenberg hermann herschel hertz heyrovsky "
    "hodgkin hofstadter hoover hopper hugle hypatia jackson jang jennings "
    "jepsen johnson joliot jones kalam kapitsa kare keldysh keller kepler "
    "khorana kilby kirch knuth kowalevski lalande lamarr lamport leakey "
    "leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere "
    "mahavira margulis matsumoto maxwell mayer mccarthy mcclintock mclaren "
    "mclean mcnulty meitner mendel mendeleev meninsky merkle mestorf mirzakhani "
    "montalcini moore morse moser murdock napier nash neumann newton nightingale "
    "nobel noether northcutt noyce panini pare pascal pasteur payne perlman "
    "pike poincare poitras proskuriakova ptolemy raman ramanujan rhodes ride "
    "ritchie robinson roentgen rosalind rubin saha sammet sanderson satoshi "
    "shamir shannon shaw shirley shockley shtern sinoussi snyder solomon "
    "spence stonebraker sutherland swanson swartz swirles taussig tereshkova "
    "tesla tharp thompson torvalds tu turing varahamihira vaughan villani "
    "visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing "
    "wozniak wright wu yalow yonath zhukovsky").split()


def validate(name: str) -> str:
    """The name without Docker's leading '/', or InvalidArgument."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def random_name(taken) -> str:
    """adjective_surname, like Docker; a number is added on a collision."""
    for attempt in range(20):
        name = f"{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}"
        if attempt > 10:
            name += str(random.randint(0, 9))
        if not taken(name):
            return name
    return f"{random.choice(ADJECTIVES)}_{random.choice(SURNAMES)}{random.randint(10, 99999)}"

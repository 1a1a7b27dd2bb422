"""The names corpus' vocabulary tables: locales, titles, legal forms, templates, fixed lists.

Why apart from the generator (``corpus.py``): these are data, hand-curated and reviewed as data,
and read by more than one module (the corpus generator, the demo table, the lexicon's cue words).
Only tables live here; everything that loads registry packages or draws names is in ``corpus.py``.
"""

from __future__ import annotations

# locale: (language, ISO country, person weight, company weight)
LOCALES: dict[str, tuple[str, str, float, float]] = {
    "es_ES": ("es", "ES", 14, 10),
    "es_MX": ("es", "MX", 12, 8),
    "es_AR": ("es", "AR", 6, 0),
    "es_CO": ("es", "CO", 6, 0),
    "es_CL": ("es", "CL", 4, 3),
    "pt_BR": ("pt", "BR", 10, 2),
    "pt_PT": ("pt", "PT", 3, 2),
    "en_US": ("en", "US", 12, 6),
    "en_GB": ("en", "GB", 7, 4),
    "en_IN": ("en", "IN", 2, 0),
    "de_DE": ("de", "DE", 6, 5),
    "fr_FR": ("fr", "FR", 6, 2),
    "it_IT": ("it", "IT", 5, 4),
    "nl_NL": ("nl", "NL", 2, 2),
    "pl_PL": ("pl", "PL", 2, 2),
    "tr_TR": ("tr", "TR", 1, 1),
    "sv_SE": ("sv", "SE", 1, 1),
}
REGION_METHODS: dict[str, tuple[str, ...]] = {
    "es_ES": ("autonomous_community", "state"),
    "es_MX": ("state",),
    "es_AR": ("province",),
    "es_CO": ("department",),
    "es_CL": ("region", "province"),
    "pt_BR": ("estado_nome",),
    "pt_PT": ("distrito",),
    "en_US": ("state",),
    "en_GB": ("county",),
    "de_DE": ("state",),
    "fr_FR": ("region", "department_name"),
    "it_IT": ("state",),
    "nl_NL": ("province",),
}
CONJ: dict[str, tuple[str, ...]] = {
    "es": ("y", "&"),
    "pt": ("e", "&"),
    "en": ("&", "and"),
    "de": ("und", "&"),
    "fr": ("et", "&"),
    "it": ("e", "&"),
    "nl": ("en", "&"),
}
# titles: (male, female, either)
TITLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "en": (("Mr.", "Mr", "Sir"), ("Mrs.", "Mrs", "Ms.", "Ms", "Miss"), ("Dr.", "Dr", "Prof.")),
    "es": (("Sr.", "D.", "Don", "Sr"), ("Sra.", "Srta.", "Dña.", "Doña"), ("Dr.", "Lic.", "Ing.")),
    "pt": (("Sr.", "Dom"), ("Sra.", "D.", "Srta."), ("Dr.", "Prof.", "Eng.")),
    "de": (("Herr", "Hr."), ("Frau", "Fr."), ("Dr.", "Prof. Dr.")),
    "fr": (("M.", "Monsieur"), ("Mme", "Mme.", "Mlle", "Madame"), ("Dr", "Me")),
    "it": (("Sig.", "Signor"), ("Sig.ra", "Signora"), ("Dott.", "Avv.", "Ing.")),
    "nl": (("Dhr.", "De heer"), ("Mevr.", "Mevrouw"), ("Dr.", "Ir.")),
}
# Post-nominals (issue 25): degrees, professional letters, honours and generational suffixes written after a
# person's name ("Rudolf Pokorný Ph.D.", "Jane Doe, CPA"); dotted forms read like legal forms ("S.A."), so
# the members took such names for organisations. Two-letter forms that are also a US or Brazilian state's
# code ("MD", "MA", "MS", "PA", "DC", "BA") are kept only dotted ("Laurel MD" is a town); anything that is
# also a legal form ("SE", "P.A.") is left to the legal forms (lexicon_data._post_nominals). The corpus
# writes DEGREES after some persons' names (corpus._person_text); the generational ones it already wrote.
# fmt: off
DEGREES: tuple[str, ...] = (
    # doctorates and medicine
    "PhD", "Ph.D.", "Ph.D", "DPhil", "D.Phil.", "EdD", "Ed.D.", "PsyD", "Psy.D.", "PharmD", "Pharm.D.", "DSc",
    "D.Sc.", "DrSc.", "CSc.", "Th.D.", "ThD", "M.D.", "DDS", "D.D.S.", "DMD", "D.M.D.", "DVM", "D.V.M.", "MBBS",
    "MBChB", "FRCS", "FRCP", "MRCP", "MRCS", "FACP", "FACS", "DNP", "MPH", "M.P.H.", "RN", "R.N.", "LPN", "LCSW",
    "MSW", "Dr.h.c.",
    # masters, bachelors, diplomas
    "MBA", "M.B.A.", "MBA.", "MSc", "M.Sc.", "M.Sc", "M.S.", "M.A.", "MEng", "M.Eng.", "MPhil", "M.Phil.",
    "BSc", "B.Sc.", "B.Sc", "B.S.", "B.A.", "BEng", "B.Eng.", "BBA", "LLB", "LL.B.", "LLM", "LL.M.", "JD", "J.D.",
    "DiS.", "M.M.", "M.Kom.",
    "S.H.", "S.Kom", "S.Pd", "S.Psi", "S.Ked",
    # professional letters and honours
    "CPA", "C.P.A.", "CFA", "CFP", "ACCA", "FCA", "CEng", "PMP", "Esq.", "Esq", "OBE", "MBE", "CBE", "KBE",
    "KC",
)
POST_NOMINALS: tuple[str, ...] = (*DEGREES, "Jr.", "Jr", "Jnr", "Jnr.", "Snr", "Snr.")  # and generational
# fmt: on
COUPLE_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Mr & Mrs", "Mr. & Mrs.", "Mr and Mrs", "Mr. and Mrs."),
    "es": ("Sr. y Sra.", "Sres.", "D. y Dña."),
    "pt": ("Sr. e Sra.", "Srs."),
    "de": ("Herr und Frau", "Familie", "Fam."),
    "fr": ("M. et Mme", "M. & Mme"),
    "it": ("Sig. e Sig.ra", "Famiglia"),
    "nl": ("Dhr. en Mevr.", "Fam."),
}
# Curated display forms; other countries use cleanco's list for that country.
# fmt: off
LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "ES": (
        "S.A.", "S.L.", "SA", "SL", "S.L.U.", "S.Coop.", "S.L.L.",
    ),
    "MX": (
        "S.A. de C.V.", "SA de CV", "S. de R.L. de C.V.", "S.A.B. de C.V.", "S.C.",
    ),
    "AR": (
        "S.A.", "S.R.L.", "SRL", "S.A.S.",
    ),
    "CO": (
        "S.A.S.", "SAS", "S.A.", "Ltda.",
    ),
    "CL": (
        "S.A.", "SpA", "Ltda.", "EIRL",
    ),
    "BR": (
        "Ltda.", "LTDA", "S.A.", "S/A", "ME", "EIRELI",
    ),
    "PT": (
        "Lda.", "S.A.", "Unipessoal Lda.",
    ),
    "US": (
        "Inc.", "Inc", "LLC", "Corp.", "Corporation", "Co.", "Company", "L.L.C.", "LP",
    ),
    "GB": (
        "Ltd", "Ltd.", "Limited", "PLC", "plc", "LLP",
    ),
    "IN": (
        "Pvt. Ltd.", "Private Limited", "Ltd.",
    ),
    "DE": (
        "GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", "OHG",
    ),
    "FR": (
        "SA", "SAS", "SARL", "S.A.R.L.", "EURL", "SNC",
    ),
    "IT": (
        "S.p.A.", "S.r.l.", "SRL", "S.n.c.", "S.a.s.",
    ),
    "NL": (
        "B.V.", "BV", "N.V.",
    ),
    "PL": (
        "Sp. z o.o.", "S.A.", "sp.j.",
    ),
    "TR": (
        "A.Ş.", "Ltd. Şti.",
    ),
    "SE": (
        "AB", "HB",
    ),
}
# fmt: on
CLEANCO_DISPLAY: dict[str, str] = {
    "gmbh": "GmbH",
    "mbh": "mbH",
    "kgaa": "KGaA",
    "gmbh & co. kg": "GmbH & Co. KG",
    "mbh & co. kg": "mbH & Co. KG",
    "g.m.b.h.": "G.m.b.H.",
    "e.v.": "e.V.",
    "ltda": "Ltda",
    "ltda.": "Ltda.",
    "lda.": "Lda.",
    "ltd": "Ltd",
    "ltd.": "Ltd.",
    "pty ltd": "Pty Ltd",
    "pty. ltd.": "Pty. Ltd.",
    "s.p.a.": "S.p.A.",
    "inc": "Inc",
    "inc.": "Inc.",
    "corp.": "Corp.",
    "co.": "Co.",
    "limited": "Limited",
    "corporation": "Corporation",
    "company": "Company",
    "incorporated": "Incorporated",
}
ABBREV: dict[str, str] = {
    "Limited": "Ltd",
    "Incorporated": "Inc.",
    "Corporation": "Corp.",
    "Company": "Co.",
    "Brothers": "Bros.",
    "International": "Intl.",
    "Associates": "Assoc.",
    "Hermanos": "Hnos.",
    "Compañía": "Cía.",
    "Universidad": "Univ.",
    "University": "Univ.",
    "Asociación": "Asoc.",
    "Department": "Dept.",
    "Saint": "St.",
    "Limitada": "Ltda.",
    "Sociedad Anónima": "S.A.",
    "Aktiengesellschaft": "AG",
    "S.A.": "SA",
    "S.L.": "SL",
    "Inc.": "Inc",
    "Ltd.": "Ltd",
    "Corp.": "Corp",
    "Co.": "Co",
    "S.R.L.": "SRL",
    "S.r.l.": "Srl",
    "B.V.": "BV",
    "S.A. de C.V.": "SA de CV",
    "S.p.A.": "SpA",
    "Ltda.": "Ltda",
    "and": "&",
    "y": "&",
}
EXPAND: dict[str, str] = {
    "Ltd": "Limited",
    "Ltd.": "Limited",
    "Inc.": "Incorporated",
    "Inc": "Incorporated",
    "Corp.": "Corporation",
    "Co.": "Company",
    "SA": "S.A.",
    "SL": "S.L.",
    "&": "and",
}

# fmt: off
WORDS: dict[str, tuple[str, ...]] = {
    "es": (
        "El Sol", "La Esperanza", "Central", "Nacional", "del Norte", "del Sur", "Atlántico",
        "Pacífico", "La Unión", "El Progreso", "Mundial", "Popular", "Continental", "La Estrella",
        "El Faro", "La Palma", "Los Andes", "del Valle", "Las Américas", "Occidente", "La Moderna",
        "El Roble", "Santa Fe", "La Favorita", "Imperial",
    ),
    "pt": (
        "Estrela", "Progresso", "Central", "Nacional", "do Brasil", "Bom Preço", "Boa Vista",
        "Sol Nascente", "Esperança", "União", "Atlântico", "Paulista", "do Sul", "Real",
    ),
    "en": (
        "Sunrise", "Liberty", "Pioneer", "Golden Gate", "Evergreen", "Summit", "Heritage",
        "Blue Ridge", "Eagle", "Harbor", "Lakeside", "Northern", "Atlantic", "Pacific", "Capital",
        "Union", "Red Oak", "Silver Star", "Keystone", "Riverside",
    ),
    "de": (
        "Sonne", "Adler", "Linde", "Hansa", "Germania", "Nord", "Süd", "Zentral", "Alpen", "Rhein",
        "Edelweiss", "Allgemeine", "Lindenhof",
    ),
    "fr": (
        "Soleil", "Liberté", "Étoile", "Centrale", "du Nord", "Atlantique", "Provence", "Lumière",
        "de la Paix", "Mutuelle", "Bellevue", "du Midi",
    ),
    "it": (
        "Sole", "Stella", "Italia", "Centrale", "del Nord", "Mediterraneo", "Aurora", "Vittoria",
        "Adriatica", "Generale", "Fenice", "Toscana",
    ),
}
# fmt: on
# fmt: off
SAINTS: dict[str, tuple[str, ...]] = {
    "es": (
        "San José", "Santa María", "San Juan", "Santa Teresa", "San Agustín", "Santa Ana",
        "San Ignacio", "Sagrado Corazón", "La Salle", "Santa Rosa de Lima", "San Pedro",
        "Nuestra Señora del Pilar", "Nuestra Señora de Guadalupe", "San Francisco de Asís",
        "Santo Domingo", "San Vicente de Paúl", "Santa Cecilia", "San Rafael",
    ),
    "pt": (
        "São José", "Santa Maria", "São Paulo", "Santa Teresinha", "Nossa Senhora Aparecida",
        "São Francisco", "Santo Antônio", "São Luís", "Santa Clara",
    ),
    "en": (
        "St. Mary", "St. John", "St. Joseph", "St. Patrick", "St. Luke", "St. Anne", "St. Michael",
        "St. Thomas", "Holy Cross", "Sacred Heart",
    ),
    "de": (
        "St. Marien", "St. Josef", "St. Elisabeth", "St. Georg", "Heilig Geist",
    ),
    "fr": (
        "Saint-Louis", "Sainte-Marie", "Saint-Joseph", "Saint-Michel", "Sainte-Anne", "Notre-Dame",
    ),
    "it": (
        "San Giuseppe", "Santa Maria", "San Raffaele", "San Camillo", "San Giovanni", "Sant'Anna",
    ),
}
# fmt: on
# fmt: off
MINISTRIES: dict[str, tuple[str, ...]] = {
    "es": (
        "Hacienda", "Educación", "Salud", "Trabajo", "Economía", "Agricultura", "Defensa",
        "Interior", "Cultura", "Transporte", "Desarrollo Social", "Medio Ambiente",
    ),
    "pt": (
        "Saúde", "Educação", "Fazenda", "Cultura", "Justiça", "Economia", "Defesa",
    ),
    "en": (
        "Health", "Education", "Labor", "Transportation", "the Treasury", "Agriculture",
        "Veterans Affairs", "Motor Vehicles", "Public Works", "Revenue",
    ),
    "de": (
        "Gesundheit", "Bildung und Forschung", "Finanzen", "Arbeit und Soziales", "Verkehr",
    ),
    "fr": (
        "Santé", "Justice", "Culture", "Défense", "Transition écologique",
    ),
    "it": (
        "Salute", "Giustizia", "Cultura", "Difesa", "Economia",
    ),
}
# fmt: on

# kind -> language -> templates; every template renders to ONE ORG span
# fmt: off
ORG_TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "university": {
        "es": (
            "Universidad de {city}", "Universidad Nacional de {city}",
            "Universidad Autónoma de {city}", "Universidad Católica de {city}",
            "Universidad {surname}", "Universidad Politécnica de {region}",
            "Universidad Tecnológica de {city}", "Universidad de {region}",
        ),
        "pt": (
            "Universidade Federal de {region}", "Universidade de {city}",
            "Universidade Estadual de {city}", "Pontifícia Universidade Católica de {city}",
            "Faculdade {surname}",
        ),
        "en": (
            "University of {city}", "{city} State University", "{city} Community College",
            "{surname} College", "{region} Institute of Technology", "{region} University",
        ),
        "de": (
            "Universität {city}", "Technische Universität {city}", "Hochschule {city}",
            "Fachhochschule {city}",
        ),
        "fr": (
            "Université de {city}", "Université {region}", "Institut {surname}",
            "École supérieure de commerce de {city}",
        ),
        "it": (
            "Università di {city}", "Università degli Studi di {city}", "Politecnico di {city}",
        ),
    },
    "school": {
        "es": (
            "Colegio {saint}", "Colegio San {given_m}", "Instituto {surname}",
            "IES {given} {surname}", "Escuela Primaria {given} {surname}", "Liceo {surname}",
            "Colegio {word}", "Escuela Técnica {surname}", "Jardín de Infantes {word}",
        ),
        "pt": (
            "Escola Estadual {given} {surname}", "Colégio {saint}", "Escola Municipal {surname}",
            "Colégio {word}",
        ),
        "en": (
            "{city} High School", "{surname} Elementary School", "{saint} School", "{city} Academy",
            "{surname} Middle School", "{city} Montessori School",
        ),
        "de": (
            "Gymnasium {city}", "Grundschule {city}", "{surname}-Gymnasium", "Realschule {city}",
        ),
        "fr": (
            "Lycée {surname}", "École primaire {surname}", "Collège {saint}",
            "Lycée {given} {surname}",
        ),
        "it": (
            "Liceo {surname}", "Scuola Primaria {surname}", "Istituto {saint}",
        ),
    },
    "hospital": {
        "es": (
            "Hospital {surname}", "Hospital Universitario de {city}", "Clínica {surname}",
            "Hospital General de {city}", "Clínica {saint}", "Centro de Salud {city}",
            "Sanatorio {surname}", "Hospital {saint}", "Policlínico {word}",
        ),
        "pt": (
            "Hospital {surname}", "Hospital das Clínicas de {city}", "Santa Casa de {city}",
            "Hospital {saint}", "Clínica {surname}",
        ),
        "en": (
            "{city} General Hospital", "{saint}'s Hospital", "{surname} Medical Center",
            "{city} Children's Hospital", "{region} Medical Center", "{city} Dental Clinic",
        ),
        "de": (
            "Klinikum {city}", "Krankenhaus {city}", "Universitätsklinikum {city}",
            "Praxis Dr. {surname}",
        ),
        "fr": (
            "Hôpital {saint}", "Centre Hospitalier de {city}", "Clinique {surname}",
            "Cabinet Médical {surname}",
        ),
        "it": (
            "Ospedale di {city}", "Ospedale {saint}", "Policlinico {surname}", "Clinica {surname}",
        ),
    },
    "bank": {
        "es": (
            "Banco {word}", "Banco de {region}", "Caja Rural de {region}",
            "Caja de Ahorros de {city}", "Cooperativa de Crédito {city}", "Banco {surname}",
            "Financiera {word}",
        ),
        "pt": (
            "Banco {word}", "Cooperativa de Crédito de {city}", "Caixa {word}", "Banco {surname}",
        ),
        "en": (
            "{city} Savings Bank", "First National Bank of {city}", "{region} Credit Union",
            "{surname} Bank", "Bank of {city}", "{word} Federal Credit Union",
        ),
        "de": (
            "Sparkasse {city}", "Volksbank {city}", "Raiffeisenbank {city}",
            "Kreissparkasse {city}",
        ),
        "fr": (
            "Caisse d'Épargne {region}", "Banque {surname}", "Crédit Mutuel de {city}",
            "Banque Populaire {region}",
        ),
        "it": (
            "Banca Popolare di {city}", "Cassa di Risparmio di {city}", "Banca {surname}",
            "Banca di Credito Cooperativo di {city}",
        ),
    },
    "insurer": {
        "es": (
            "Seguros {word}", "{surname} Seguros", "Mutua {word}", "Aseguradora {word}",
            "Mutualidad de {region}", "Correduría de Seguros {surname}",
        ),
        "pt": (
            "{word} Seguros", "Seguradora {surname}", "Corretora de Seguros {surname}",
        ),
        "en": (
            "{word} Insurance", "{surname} Insurance Agency", "{city} Mutual Insurance",
            "{word} Life Assurance",
        ),
        "de": (
            "{word} Versicherung", "{surname} Versicherungen", "{word} Versicherungsbüro",
        ),
        "fr": (
            "Assurances {surname}", "Mutuelle {word}", "Cabinet d'assurances {surname}",
        ),
        "it": (
            "Assicurazioni {word}", "{surname} Assicurazioni",
        ),
    },
    "shop": {
        "es": (
            "Farmacia {surname}", "Panadería {given}", "Ferretería {surname}",
            "Supermercado {word}", "Librería {word}", "Zapatería {surname}",
            "Taller Mecánico {surname}", "Restaurante {word}", "Bar {given}", "Hotel {word}",
            "Peluquería {given}", "Carnicería {surname}", "Óptica {surname}", "Tienda {word}",
            "Abarrotes {given}", "Almacén {word}", "Distribuidora {word}", "Transportes {surname}",
            "Construcciones {surname} e Hijos", "{surname} Hermanos", "Inmobiliaria {word}",
            "Autoservicio {word}", "Gestoría {surname}", "Frutería {given}",
        ),
        "pt": (
            "Farmácia {surname}", "Padaria {word}", "Mercado {word}", "Auto Peças {surname}",
            "Restaurante {word}", "Loja {word}", "Supermercado {surname}",
            "Materiais de Construção {surname}",
        ),
        "en": (
            "{surname}'s Bakery", "{surname} Plumbing", "{city} Hardware", "{surname} Auto Repair",
            "The {word} Café", "{word} Pizza", "{surname} & Sons", "{given}'s Diner",
            "{surname} Law Firm", "{word} Grocery", "{surname} Roofing", "{word} Pharmacy",
            "{word} Hotel", "{surname} Realty",
        ),
        "de": (
            "Bäckerei {surname}", "Metzgerei {surname}", "{word} Apotheke", "Autohaus {surname}",
            "Gasthaus {word}", "Elektro {surname}", "Malerbetrieb {surname}", "Hotel {word}",
        ),
        "fr": (
            "Boulangerie {surname}", "Pharmacie {word}", "Garage {surname}", "Café {word}",
            "Restaurant {word}", "Boucherie {surname}", "Épicerie {word}",
        ),
        "it": (
            "Pizzeria {word}", "Farmacia {surname}", "Ristorante {word}", "Bar {word}",
            "Officina {surname}", "Panificio {surname}", "Albergo {word}",
        ),
    },
    "public": {
        "es": (
            "Ayuntamiento de {city}", "Municipalidad de {city}", "Gobierno de {region}",
            "Junta de {region}", "Diputación de {region}", "Ministerio de {ministry}",
            "Secretaría de {ministry}", "Alcaldía de {city}", "Intendencia de {city}",
            "Servicio de Salud de {region}", "Policía Municipal de {city}", "Agencia Tributaria",
            "Seguridad Social",
        ),
        "pt": (
            "Prefeitura de {city}", "Prefeitura Municipal de {city}",
            "Governo do Estado de {region}", "Câmara Municipal de {city}",
            "Ministério da {ministry}", "Secretaria de {ministry} de {region}",
        ),
        "en": (
            "{city} City Council", "{region} Department of {ministry}", "Department of {ministry}",
            "{city} Police Department", "{city} Public Library", "{region} State Government",
            "{city} Fire Department", "{city} School District",
        ),
        "de": (
            "Stadt {city}", "Stadtverwaltung {city}", "Finanzamt {city}", "Landratsamt {city}",
            "Bundesministerium für {ministry}", "Gemeinde {city}",
        ),
        "fr": (
            "Mairie de {city}", "Conseil régional {region}", "Ministère de la {ministry}",
            "Préfecture de {region}", "Commune de {city}",
        ),
        "it": (
            "Comune di {city}", "Regione {region}", "Ministero della {ministry}",
            "Prefettura di {city}",
        ),
    },
    "association": {
        "es": (
            "Asociación de Vecinos de {city}", "Asociación Cultural {word}", "Fundación {surname}",
            "Club Deportivo {city}", "Cooperativa {word}", "Parroquia {saint}",
            "Iglesia Evangélica de {city}", "Colegio de Abogados de {city}", "Club Atlético {word}",
            "Peña {word}", "ONG {word}", "Cruz Roja de {city}",
        ),
        "pt": (
            "Associação {word} de {city}", "Fundação {surname}", "Igreja {saint}",
            "Sport Club {city}", "Cooperativa {word}", "Sindicato dos Bancários de {city}",
        ),
        "en": (
            "{city} Rotary Club", "{surname} Foundation", "{city} Chamber of Commerce",
            "{city} Football Club", "{city} Historical Society", "First Baptist Church of {city}",
            "{word} Homeowners Association", "{city} Food Bank",
        ),
        "de": (
            "Sportverein {city}", "Förderverein {surname}", "{surname} Stiftung",
            "Turnverein {city}", "Kirchengemeinde {saint}",
        ),
        "fr": (
            "Association {word}", "Fondation {surname}", "Club Sportif de {city}",
            "Paroisse {saint}",
        ),
        "it": (
            "Associazione {word}", "Fondazione {surname}", "Polisportiva {city}",
            "Parrocchia {saint}",
        ),
    },
}
# fmt: on

# fmt: off
DISTRICTS: tuple[tuple[str, str], ...] = (
    ("Chamberí", "Madrid"), ("Vallecas", "Madrid"), ("Carabanchel", "Madrid"),
    ("Malasaña", "Madrid"), ("Lavapiés", "Madrid"), ("Gràcia", "Barcelona"),
    ("Eixample", "Barcelona"), ("Sants", "Barcelona"), ("Triana", "Sevilla"),
    ("Ruzafa", "Valencia"), ("Coyoacán", "Ciudad de México"), ("Polanco", "Ciudad de México"),
    ("Tlalpan", "Ciudad de México"), ("Iztapalapa", "Ciudad de México"),
    ("Colonia Roma", "Ciudad de México"), ("Palermo", "Buenos Aires"), ("Recoleta", "Buenos Aires"),
    ("San Telmo", "Buenos Aires"), ("Belgrano", "Buenos Aires"), ("La Boca", "Buenos Aires"),
    ("Pinheiros", "São Paulo"), ("Moema", "São Paulo"), ("Copacabana", "Rio de Janeiro"),
    ("Ipanema", "Rio de Janeiro"), ("Miraflores", "Lima"), ("Barranco", "Lima"),
    ("Chapinero", "Bogotá"), ("Usaquén", "Bogotá"), ("Providencia", "Santiago"),
    ("Las Condes", "Santiago"), ("El Poblado", "Medellín"), ("Brooklyn", "New York"),
    ("Queens", "New York"), ("Harlem", "New York"), ("Manhattan", "New York"), ("Camden", "London"),
    ("Hackney", "London"), ("Islington", "London"), ("Kreuzberg", "Berlin"), ("Neukölln", "Berlin"),
    ("Schwabing", "München"), ("Montmartre", "Paris"), ("Le Marais", "Paris"),
    ("Trastevere", "Roma"), ("Brera", "Milano"), ("Alfama", "Lisboa"), ("Jordaan", "Amsterdam"),
    ("Hollywood", "Los Angeles"), ("South Beach", "Miami"), ("Vedado", "La Habana"),
)
# fmt: on
# fmt: off
COUNTRY_EXONYMS: tuple[str, ...] = (
    "España", "México", "Estados Unidos", "Alemania", "Francia", "Italia", "Reino Unido", "Brasil",
    "Perú", "Colombia", "Argentina", "Chile", "Países Bajos", "Suiza", "Bélgica", "Japón",
    "Marruecos", "Rumanía", "Estados Unidos de América", "República Dominicana", "Alemanha",
    "Espanha", "Estados Unidos da América", "Inglaterra", "Deutschland", "Österreich", "Schweiz",
    "Frankreich", "Spanien", "Italien", "Allemagne", "Espagne", "Royaume-Uni", "Italie", "Germania",
    "Spagna", "Francia", "Svizzera", "Nederland", "Polska", "Türkiye", "Sverige",
)
# fmt: on
# fmt: off
NATIONALITIES: tuple[str, ...] = (
    "Spanish", "Mexican", "Argentinian", "Colombian", "Chilean", "Peruvian", "Brazilian",
    "Portuguese", "American", "British", "English", "Scottish", "Irish", "German", "French",
    "Italian", "Dutch", "Polish", "Turkish", "Swedish", "Indian", "Chinese", "Japanese", "Korean",
    "Moroccan", "Canadian", "Australian", "Venezuelan", "Cuban", "Ecuadorian", "Latin American",
    "Hispanic", "European", "Swiss", "Belgian", "Romanian", "español", "española", "mexicano",
    "mexicana", "argentino", "argentina", "colombiano", "colombiana", "chileno", "chilena",
    "peruano", "peruana", "venezolano", "venezolana", "cubano", "cubana", "ecuatoriano",
    "estadounidense", "británico", "alemán", "alemana", "francés", "francesa", "italiano",
    "italiana", "brasileño", "brasileña", "portugués", "latinoamericano", "brasileiro",
    "brasileira", "português", "portuguesa", "alemão", "Deutscher", "Deutsche", "Franzose",
    "Spanier", "Italiener", "Türke", "français", "française", "espagnol", "allemand", "italien",
    "italiano", "tedesco", "spagnolo",
)
# fmt: on
# fmt: off
EVENT_FIXED: tuple[str, ...] = (
    "Semana Santa", "Oktoberfest", "Olympic Games", "World Cup", "Copa América",
    "Mobile World Congress", "Black Friday", "Cyber Monday", "Super Bowl", "Champions League",
    "Copa Libertadores", "Tour de France", "Wimbledon", "Roland Garros", "Día de Muertos",
    "Carnaval", "Navidad", "Christmas", "Thanksgiving", "Ramadan", "Hanukkah", "Diwali",
    "Eurovision", "Coachella", "Primavera Sound", "Vendimia", "Día de la Madre", "Mother's Day",
    "Father's Day", "Easter", "Pride Month", "Fashion Week", "Juegos Olímpicos",
    "Mundial de Fútbol", "Feria del Libro", "Rock in Rio",
)
# fmt: on
# fmt: off
EVENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "es": (
        "Feria de {city}", "Festival de {city}", "Maratón de {city}", "Gran Premio de {country}",
        "Copa {country}", "Carnaval de {city}", "Festival Internacional de Cine de {city}",
        "Fiestas de {city}", "Bienal de {city}", "Salón del Automóvil de {city}",
        "Semana de la Moda de {city}",
    ),
    "pt": (
        "Carnaval de {city}", "Festa Junina de {city}", "Maratona de {city}",
        "Bienal do Livro de {city}",
    ),
    "en": (
        "{city} Marathon", "{city} Open", "{city} Film Festival", "{city} Jazz Festival",
        "{city} Pride", "{city} Book Fair", "{country} Grand Prix", "{city} County Fair",
    ),
    "de": (
        "{city} Marathon", "Frankfurter Buchmesse", "Kieler Woche", "{city} Weihnachtsmarkt",
    ),
    "fr": (
        "Marathon de {city}", "Festival de {city}", "Grand Prix de {country}", "Fête de la Musique",
    ),
    "it": (
        "Maratona di {city}", "Festival di {city}", "Carnevale di {city}", "Palio di {city}",
    ),
}
# fmt: on
# fmt: off
PRODUCTS: tuple[str, ...] = (
    "iPhone", "iPad", "MacBook Pro", "Galaxy S21", "PlayStation 5", "Xbox One", "Nintendo Switch",
    "Windows", "Android", "Kindle", "Coca-Cola Zero", "Big Mac", "Nutella", "Play-Doh",
    "Lego Technic", "Toyota Corolla", "Ford Fiesta", "Volkswagen Golf", "Seat Ibiza",
    "Renault Clio", "Fiat Uno", "Chevrolet Spark", "Nespresso Vertuo", "Roomba", "AirPods", "Excel",
    "Photoshop", "Instagram", "WhatsApp", "Spotify Premium", "Netflix", "Harry Potter", "Star Wars",
    "Don Quijote", "Game of Thrones", "La Casa de Papel", "Minecraft", "Fortnite", "Pokémon",
    "Barbie", "Hot Wheels", "Thermomix", "Dyson V11",
)
# fmt: on
# fmt: off
NONE_PLACEHOLDERS: tuple[str, ...] = (
    "N/A", "n/a", "NA", "N.A.", "unknown", "Unknown", "UNKNOWN", "test", "TEST", "Test Test", "-",
    "--", ".", "?", "???", "***", "x", "xx", "xxx", "XXXX", "asdf", "qwerty", "aaa", "zzz",
    "cash customer", "Cash Customer", "cash sale", "walk-in customer", "walk in", "guest",
    "Guest User", "customer", "Customer", "client", "no name", "No Name", "none", "None", "null",
    "NULL", "nil", "tbd", "TBD", "to be confirmed", "do not use", "DO NOT USE", "duplicate",
    "DUPLICATE - DO NOT USE", "deleted", "inactive", "void", "see notes", "same as above",
    "cliente contado", "Cliente Contado", "consumidor final", "Consumidor Final", "cliente varios",
    "Clientes Varios", "cliente", "CLIENTE", "varios", "desconocido", "Desconocido", "sin nombre",
    "Sin Nombre", "ninguno", "prueba", "PRUEBA", "no usar", "NO USAR", "anulado", "baja",
    "público en general", "Publico en General", "cliente final", "cliente genérico", "consumidor",
    "sem nome", "cliente balcão", "não informado", "desconhecido", "teste", "unbekannt",
    "Barverkauf", "Laufkundschaft", "kein Name", "inconnu", "client comptant", "sconosciuto",
    "cliente generico", "onbekend", "anonymous", "anónimo", "Anonymous", "private", "particular",
    "refund", "internal", "employee", "staff", "online order", "web order", "pos customer",
)
# fmt: on
# fmt: off
NONE_TEMPLATES: tuple[str, ...] = (
    "Customer {n}", "CUST-{n6}", "Cliente {n}", "cliente #{n}", "ID {n}", "{n}", "{n8}", "test{n}",
    "TEST {n}", "Kunde {n}", "{date}", "Order {n6}", "Pedido {n}", "Ticket {n}", "{n}-{n}", "#{n}",
    "*** {p} ***", "({p})", "{p}.", "- {p} -", "{p} {n}", "Cuenta {n}", "account {n6}", "user{n}",
    "{d}{d}{d}{d}", "{email}", "{email}", "{phone}", "{phone}", "www.{dom}.com", "{dom}.com",
    "Tel. {phone}", "{phone} / {phone}",
)
# fmt: on

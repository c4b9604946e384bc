import Foundation
import VectorStreamCore

/// One kind of product (a noun such as "Camping Tent"): the adjectives that fit it, its price band, what it
/// offers and what it is for. Names are "Brand Adjective Noun" with an adjective of this kind only, so a dog
/// food is never orthopedic and a chair never costs $7.
public struct ProductKind: Sendable, Hashable {
    public let category: String
    public let noun: String
    public let adjectives: [String]
    /// Prices of this kind, in dollars; every generated price lies inside.
    public let priceRange: ClosedRange<Double>
    let features: [String]
    let uses: [String]
}

/// What makes a category recognisable: its kinds of product and what shoppers buy them for.
struct CategoryProfile: Sendable {
    let name: String
    let kinds: [ProductKind]
    /// What the category is for, in a shopper's words (the search-quality queries use the first).
    let uses: [String]

    var nouns: [String] { kinds.map(\.noun) }

    init(_ name: String, uses: [String], _ kinds: [(String, [String], ClosedRange<Double>, [String], [String])]) {
        self.name = name
        self.uses = uses
        self.kinds = kinds.map { noun, adjectives, price, features, kindUses in
            ProductKind(category: name, noun: noun, adjectives: adjectives, priceRange: price, features: features,
                        uses: kindUses.isEmpty ? uses : kindUses)
        }
    }
}

/// English product texts over fourteen categories, each kind with its own adjectives, features and prices.
enum CatalogVocabulary {
    static let brands = ["Nimbus", "Cobalt", "Aurora", "Summit", "Vertex", "Harbor", "Juniper", "Atlas", "Lumen",
                         "Orchid", "Granite", "Willow", "Pioneer", "Crescent", "Ember", "Solace", "Tundra", "Quill"]

    static let categories: [CategoryProfile] = [
        CategoryProfile("Electronics", uses: ["streaming music and calls", "work and gaming", "travel and commuting"], [
            ("Wireless Earbuds", ["Pro", "Compact", "Sport", "Noise-Isolating"], 19...299,
             ["a 30-hour battery life with the case", "Bluetooth 5.3 connectivity", "low-latency audio"],
             ["streaming music and calls", "workouts and commuting"]),
            ("Bluetooth Speaker", ["Portable", "Waterproof", "Compact", "Rugged"], 25...399,
             ["360-degree sound", "a 20-hour battery life", "an IP67 waterproof rating"],
             ["parties and picnics", "music at the beach"]),
            ("Smartwatch", ["Pro", "Sport", "Slim", "Titanium"], 79...799,
             ["GPS and heart-rate tracking", "an always-on AMOLED display", "a 7-day battery life"],
             ["fitness tracking", "notifications on the go"]),
            ("Noise-Cancelling Headphones", ["Wireless", "Over-Ear", "Foldable", "Studio"], 59...549,
             ["active noise cancellation", "plush memory-foam ear cushions", "a 40-hour battery life"],
             ["travel and commuting", "focused work in open offices"]),
            ("4K Monitor", ["27-Inch", "32-Inch", "Ultra-Wide", "HDR"], 199...1299,
             ["a high-resolution IPS panel", "USB-C with 90 W power delivery", "factory colour calibration"],
             ["work and gaming", "photo and video editing"]),
            ("USB-C Charger", ["65W", "Compact", "Dual-Port", "GaN"], 15...89,
             ["fast USB-C power delivery", "a foldable plug", "over-heat protection"],
             ["laptops, tablets and phones", "travel and commuting"]),
            ("Mechanical Keyboard", ["Wireless", "Backlit", "Tenkeyless", "Hot-Swappable"], 49...349,
             ["tactile mechanical switches", "per-key RGB backlighting", "PBT double-shot keycaps"],
             ["work and gaming", "long typing sessions"]),
            ("Portable SSD", ["1TB", "2TB", "Rugged", "Pocket-Size"], 59...399,
             ["read speeds up to 1050 MB/s", "a USB-C 3.2 interface", "drop-resistant housing"],
             ["backing up photos and projects", "moving large files between computers"]),
            ("Webcam", ["1080p", "4K", "Wide-Angle", "Autofocus"], 29...249,
             ["a built-in stereo microphone", "automatic low-light correction", "a privacy shutter"],
             ["video calls and streaming", "remote work"]),
            ("Tablet", ["10-Inch", "Lightweight", "Pro", "Kids"], 99...1299,
             ["a high-resolution display", "all-day battery life", "stylus support"],
             ["reading, streaming and drawing", "travel and commuting"]),
        ]),
        CategoryProfile("Books", uses: ["readers who love a good story", "book clubs and quiet evenings", "curious minds of all ages"], [
            ("Mystery Novel", ["Bestselling", "Award-Winning", "Gripping", "Paperback"], 8...28,
             ["400 pages of gripping storytelling", "a twist readers never see coming"],
             ["readers who love a good story", "book clubs and quiet evenings"]),
            ("Cookbook", ["Illustrated", "Bestselling", "Vegetarian", "Hardcover"], 15...45,
             ["over 120 tested recipes", "full-colour photographs of every dish"],
             ["home cooks", "weeknight dinners"]),
            ("Science Fiction Paperback", ["Bestselling", "Award-Winning", "Classic", "Collector's"], 7...22,
             ["a sweeping interstellar story", "a foreword by the author"],
             ["readers who love a good story", "fans of the genre"]),
            ("Biography", ["Bestselling", "Illustrated", "Authorized", "Award-Winning"], 12...40,
             ["rare archive photographs", "interviews with family and friends"],
             ["curious minds of all ages", "history lovers"]),
            ("Children's Picture Book", ["Illustrated", "Award-Winning", "Classic", "Rhyming"], 6...24,
             ["full-colour illustrations", "a story that is fun to read aloud"],
             ["bedtime reading", "children aged 3 to 7"]),
            ("History Hardcover", ["Illustrated", "Annotated", "Bestselling", "Award-Winning"], 20...60,
             ["detailed maps and timelines", "an index and reading notes"],
             ["curious minds of all ages", "history lovers"]),
            ("Poetry Collection", ["Annotated", "Classic", "Award-Winning", "Collector's"], 10...30,
             ["poems collected from five decades", "an introduction by the editor"],
             ["quiet evenings", "readers of modern verse"]),
            ("Self-Help Guide", ["Bestselling", "Practical", "Workbook-Style", "Updated"], 10...30,
             ["practical exercises at the end of each chapter", "clear, actionable advice"],
             ["building better habits", "personal growth"]),
            ("Graphic Novel", ["Illustrated", "Collector's", "Award-Winning", "Full-Colour"], 12...45,
             ["striking full-colour artwork", "a story told across 300 pages"],
             ["comics fans", "readers who love a good story"]),
            ("Travel Guide", ["Illustrated", "Updated", "Pocket", "Annotated"], 12...35,
             ["fold-out city maps", "tips from local experts"],
             ["planning a trip", "independent travellers"]),
        ]),
        CategoryProfile("Clothing", uses: ["everyday wear", "casual weekends and office days", "layering in cold weather"], [
            ("Denim Jacket", ["Vintage", "Slim-Fit", "Classic", "Oversized"], 39...180,
             ["rigid selvedge denim", "reinforced stitching", "copper button closures"],
             ["everyday wear", "layering in spring and autumn"]),
            ("Cotton T-Shirt", ["Organic", "Relaxed", "Slim-Fit", "Classic"], 9...45,
             ["soft organic cotton fabric", "a pre-shrunk fit", "machine-washable material"],
             ["everyday wear", "casual weekends"]),
            ("Wool Sweater", ["Merino", "Chunky", "Classic", "Crew-Neck"], 45...220,
             ["soft merino wool", "ribbed cuffs and hem", "a relaxed fit"],
             ["layering in cold weather", "casual weekends and office days"]),
            ("Running Shorts", ["Breathable", "Lightweight", "Quick-Dry", "Lined"], 15...65,
             ["breathable mesh panels", "a zipped back pocket", "quick-drying fabric"],
             ["running and workouts", "hot summer days"]),
            ("Rain Coat", ["Waterproof", "Packable", "Hooded", "Lightweight"], 49...250,
             ["a water-repellent finish", "taped seams", "an adjustable hood"],
             ["rainy commutes", "hiking in wet weather"]),
            ("Linen Shirt", ["Relaxed", "Breathable", "Classic", "Slim-Fit"], 25...120,
             ["pure washed linen", "mother-of-pearl buttons"],
             ["hot summer days", "casual weekends and office days"]),
            ("Hoodie", ["Organic", "Relaxed", "Oversized", "Fleece-Lined"], 25...110,
             ["brushed fleece lining", "a kangaroo pocket", "machine-washable material"],
             ["everyday wear", "cool evenings"]),
            ("Chino Trousers", ["Slim-Fit", "Relaxed", "Stretch", "Classic"], 29...130,
             ["stretch cotton twill", "a tailored slim fit"],
             ["casual weekends and office days", "everyday wear"]),
            ("Summer Dress", ["Floral", "Breathable", "Wrap", "Flowing"], 25...160,
             ["lightweight viscose fabric", "adjustable straps"],
             ["hot summer days", "garden parties and holidays"]),
            ("Knit Beanie", ["Merino", "Chunky", "Classic", "Ribbed"], 12...48,
             ["soft merino wool", "a fold-over cuff"],
             ["layering in cold weather", "winter walks"]),
        ]),
        CategoryProfile("Home & Kitchen", uses: ["cooking family dinners", "baking and meal prep", "brewing coffee at home"], [
            ("Chef's Knife", ["Professional", "Japanese", "Forged", "8-Inch"], 25...250,
             ["a razor-sharp high-carbon blade", "a full-tang ergonomic handle"],
             ["cooking family dinners", "everyday meal prep"]),
            ("Non-Stick Frying Pan", ["Ceramic", "Induction-Ready", "Professional", "Dishwasher-Safe"], 19...120,
             ["a non-stick ceramic coating", "even heat distribution", "a stay-cool handle"],
             ["cooking family dinners", "quick breakfasts"]),
            ("Espresso Machine", ["Automatic", "Professional", "Compact", "Dual-Boiler"], 120...1500,
             ["a 15-bar pump", "a steam wand for milk foam", "precise temperature control"],
             ["brewing coffee at home", "lattes and cappuccinos"]),
            ("Blender", ["High-Speed", "Professional", "Compact", "Personal"], 29...450,
             ["a 1200 W motor", "stainless steel blades", "dishwasher-safe parts"],
             ["smoothies and soups", "baking and meal prep"]),
            ("Cast Iron Skillet", ["Pre-Seasoned", "Enamelled", "Professional", "12-Inch"], 20...150,
             ["excellent heat retention", "a pre-seasoned cooking surface"],
             ["searing, baking and frying", "cooking family dinners"]),
            ("Dinnerware Set", ["Porcelain", "Stoneware", "Dishwasher-Safe", "16-Piece"], 39...300,
             ["chip-resistant glazed stoneware", "microwave- and dishwasher-safe pieces"],
             ["family dinners", "entertaining guests"]),
            ("Air Fryer", ["Digital", "Compact", "Family-Size", "Dual-Basket"], 49...250,
             ["precise temperature control", "a non-stick basket", "eight preset programmes"],
             ["crispy meals with little oil", "quick weeknight dinners"]),
            ("Kettle", ["Electric", "Stainless", "Gooseneck", "Cordless"], 19...150,
             ["a rapid-boil 1.7 L capacity", "automatic shut-off", "variable temperature settings"],
             ["brewing tea and pour-over coffee", "the morning routine"]),
            ("Cutting Board", ["Bamboo", "Walnut", "Reversible", "Extra-Large"], 12...90,
             ["a deep juice groove", "knife-friendly hardwood"],
             ["baking and meal prep", "serving cheese and bread"]),
            ("Food Storage Containers", ["Glass", "Stackable", "Airtight", "BPA-Free"], 15...70,
             ["airtight snap-lock lids", "oven- and freezer-safe glass"],
             ["meal prep", "keeping leftovers fresh"]),
        ]),
        CategoryProfile("Sports & Outdoors", uses: ["hiking and camping trips", "workouts at the gym", "trail running and climbing"], [
            ("Camping Tent", ["Waterproof", "Ultralight", "Four-Season", "Family"], 79...900,
             ["a waterproof ripstop shell", "a lightweight aluminium frame", "taped seams and a full rain fly"],
             ["hiking and camping trips", "backpacking in the mountains"]),
            ("Dumbbell Set", ["Adjustable", "Rubber-Coated", "Hex", "Compact"], 40...600,
             ["quick-change weight plates", "knurled non-slip handles"],
             ["workouts at the gym", "strength training at home"]),
            ("Fishing Rod", ["Telescopic", "Graphite", "Lightweight", "Spinning"], 25...400,
             ["a sensitive graphite blank", "stainless steel guides"],
             ["lake and river fishing", "weekend trips"]),
            ("Hiking Backpack", ["Waterproof", "Lightweight", "Ventilated", "Rugged"], 39...350,
             ["breathable mesh panels", "an adjustable hip belt", "a built-in rain cover"],
             ["hiking and camping trips", "multi-day treks"]),
            ("Yoga Mat", ["Non-Slip", "Extra-Thick", "Eco-Friendly", "Travel"], 15...130,
             ["a non-slip grip on both sides", "a carrying strap"],
             ["yoga and pilates", "workouts at home"]),
            ("Mountain Bike Helmet", ["Ventilated", "Lightweight", "MIPS", "Full-Face"], 45...300,
             ["a MIPS impact-protection liner", "18 ventilation channels", "an adjustable visor"],
             ["trail riding", "downhill mountain biking"]),
            ("Trekking Poles", ["Ultralight", "Carbon", "Collapsible", "Adjustable"], 25...180,
             ["a lightweight carbon shaft", "cork grips", "quick flip-lock adjustment"],
             ["hiking and camping trips", "steep descents"]),
            ("Sleeping Bag", ["Insulated", "Ultralight", "Down", "Three-Season"], 39...500,
             ["water-resistant down insulation", "a compression sack", "a comfort rating of -5 °C"],
             ["hiking and camping trips", "cold nights outdoors"]),
            ("Trail Running Shoes", ["Lightweight", "Waterproof", "Grippy", "Cushioned"], 60...220,
             ["a grippy rubber outsole", "breathable mesh uppers", "a rock plate"],
             ["trail running and climbing", "muddy paths"]),
            ("Water Bottle", ["Insulated", "Leak-Proof", "Stainless", "Collapsible"], 10...55,
             ["double-wall vacuum insulation", "a leak-proof lid"],
             ["workouts at the gym", "hiking and camping trips"]),
        ]),
        CategoryProfile("Beauty & Personal Care", uses: ["daily skincare routines", "sensitive skin", "healthy shiny hair"], [
            ("Moisturizing Face Cream", ["Hydrating", "Fragrance-Free", "Night", "Nourishing"], 9...120,
             ["hyaluronic acid and vitamin E", "a lightweight non-greasy formula", "dermatologist-tested ingredients"],
             ["daily skincare routines", "sensitive skin"]),
            ("Shampoo", ["Nourishing", "Sulfate-Free", "Volumizing", "Gentle"], 5...40,
             ["natural botanical extracts", "a sulfate-free formula"],
             ["healthy shiny hair", "daily washing"]),
            ("Lipstick", ["Matte", "Long-Lasting", "Satin", "Vegan"], 6...45,
             ["a long-lasting matte finish", "moisturising shea butter"],
             ["everyday make-up", "evenings out"]),
            ("Vitamin C Serum", ["Brightening", "Vegan", "Concentrated", "Fragrance-Free"], 12...110,
             ["15% stabilised vitamin C", "ferulic acid and vitamin E"],
             ["daily skincare routines", "a radiant complexion"]),
            ("Sunscreen SPF 50", ["Mineral", "Water-Resistant", "Fragrance-Free", "Lightweight"], 8...45,
             ["broad-spectrum UVA/UVB protection", "a non-greasy finish"],
             ["beach days and sport", "sensitive skin"]),
            ("Hair Dryer", ["Ionic", "Professional", "Compact", "Travel"], 25...450,
             ["ionic frizz control", "three heat and two speed settings", "a concentrator nozzle"],
             ["healthy shiny hair", "quick styling at home"]),
            ("Perfume", ["Floral", "Woody", "Citrus", "Oriental"], 25...250,
             ["notes of bergamot, jasmine and sandalwood", "a long-lasting eau de parfum concentration"],
             ["special occasions", "everyday elegance"]),
            ("Electric Toothbrush", ["Sonic", "Rechargeable", "Travel", "Smart"], 25...300,
             ["31,000 sonic strokes per minute", "a two-minute timer", "a two-week battery life"],
             ["daily oral care", "sensitive gums"]),
            ("Facial Cleanser", ["Gentle", "Foaming", "Hydrating", "Fragrance-Free"], 6...45,
             ["ceramides and niacinamide", "a soap-free formula"],
             ["daily skincare routines", "sensitive skin"]),
            ("Nail Polish Set", ["Vegan", "Quick-Dry", "Glossy", "Long-Lasting"], 8...60,
             ["12 seasonal shades", "a chip-resistant glossy finish"],
             ["manicures at home", "gifts for friends"]),
        ]),
        CategoryProfile("Toys & Games", uses: ["kids aged 6 and up", "family game night", "rainy days and classrooms"], [
            ("Building Blocks Set", ["Creative", "Classic", "Educational", "Deluxe"], 15...250,
             ["1,000 interlocking pieces", "pieces sized for small hands", "ideas for 30 models"],
             ["kids aged 6 and up", "rainy days and classrooms"]),
            ("Board Game", ["Family", "Strategy", "Cooperative", "Classic"], 15...80,
             ["rules that kids learn in minutes", "games that last 30 to 60 minutes"],
             ["family game night", "friends aged 10 and up"]),
            ("Jigsaw Puzzle", ["1000-Piece", "Panoramic", "Challenging", "Family"], 10...45,
             ["precision-cut pieces that fit snugly", "a poster of the finished picture"],
             ["quiet afternoons", "family game night"]),
            ("Remote Control Car", ["Off-Road", "High-Speed", "Rechargeable", "Amphibious"], 25...200,
             ["a 2.4 GHz remote with 50 m range", "a rechargeable battery pack"],
             ["kids aged 8 and up", "outdoor play"]),
            ("Plush Teddy Bear", ["Cuddly", "Giant", "Classic", "Huggable"], 10...80,
             ["ultra-soft plush fabric", "safety-stitched eyes"],
             ["toddlers and babies", "birthday gifts"]),
            ("STEM Robot Kit", ["Educational", "Programmable", "Interactive", "Coding"], 40...250,
             ["12 sensors programmable over Bluetooth", "a block-based coding app"],
             ["kids aged 8 and up", "rainy days and classrooms"]),
            ("Dollhouse", ["Wooden", "Three-Storey", "Furnished", "Classic"], 50...300,
             ["18 pieces of furniture", "safe non-toxic paint"],
             ["imaginative play", "kids aged 3 and up"]),
            ("Card Game", ["Family", "Party", "Classic", "Fast-Paced"], 8...30,
             ["rules that kids learn in minutes", "a sturdy travel tin"],
             ["family game night", "travel and holidays"]),
            ("Wooden Train Set", ["Classic", "Deluxe", "Expandable", "Starter"], 30...180,
             ["solid beech tracks and bridges", "magnetic couplings"],
             ["toddlers aged 3 and up", "imaginative play"]),
            ("Art and Craft Kit", ["Creative", "Deluxe", "Colorful", "Beginner's"], 15...70,
             ["paints, pens and 200 stickers", "safe non-toxic materials"],
             ["rainy days and classrooms", "kids aged 6 and up"]),
        ]),
        CategoryProfile("Grocery", uses: ["breakfast and snacks", "healthy home cooking", "the pantry"], [
            ("Organic Green Tea", ["Japanese", "Loose-Leaf", "Fair-Trade", "Single-Origin"], 4...30,
             ["delicate grassy notes", "antioxidant-rich leaves"],
             ["a calm afternoon", "the pantry"]),
            ("Dark Chocolate Bar", ["Single-Origin", "Fair-Trade", "Organic", "Sea-Salted"], 2...12,
             ["70% cocoa", "rich, smooth flavour"],
             ["an afternoon treat", "baking"]),
            ("Extra Virgin Olive Oil", ["Cold-Pressed", "Organic", "Greek", "Single-Estate"], 8...40,
             ["a peppery, fruity finish", "a dark glass bottle"],
             ["healthy home cooking", "salads and dipping"]),
            ("Arabica Coffee Beans", ["Single-Origin", "Dark-Roast", "Fair-Trade", "Organic"], 8...35,
             ["notes of caramel and hazelnut", "beans roasted in small batches"],
             ["breakfast", "espresso and filter brewing"]),
            ("Raw Honey", ["Organic", "Wildflower", "Manuka", "Unfiltered"], 6...45,
             ["unfiltered raw honey", "no added sugar"],
             ["breakfast and snacks", "tea and baking"]),
            ("Basmati Rice", ["Aged", "Organic", "Brown", "Extra-Long"], 3...20,
             ["extra-long fragrant grains", "a resealable pantry pack"],
             ["healthy home cooking", "curries and pilafs"]),
            ("Granola", ["Gluten-Free", "Honey-Roasted", "Organic", "Low-Sugar"], 4...15,
             ["crunchy oat clusters with nuts", "no artificial preservatives"],
             ["breakfast and snacks", "yoghurt bowls"]),
            ("Pasta Sauce", ["Organic", "Artisan", "Basil", "Slow-Cooked"], 3...12,
             ["sun-ripened Italian tomatoes", "no added sugar"],
             ["quick weeknight dinners", "healthy home cooking"]),
            ("Almond Butter", ["Organic", "Crunchy", "Smooth", "Unsweetened"], 6...20,
             ["100% roasted almonds", "7 g of protein per serving"],
             ["breakfast and snacks", "smoothies and toast"]),
            ("Sea Salt Crackers", ["Gluten-Free", "Whole-Grain", "Artisan", "Thin"], 2...8,
             ["a light, crisp bite", "sustainably sourced ingredients"],
             ["snacks and cheese boards", "the pantry"]),
        ]),
        CategoryProfile("Automotive", uses: ["road trips and daily driving", "roadside emergencies", "keeping your vehicle clean"], [
            ("Car Wax", ["Carnauba", "Synthetic", "Ceramic", "Premium"], 8...45,
             ["a deep, glossy shine", "UV protection for the paint"],
             ["keeping your vehicle clean", "weekend detailing"]),
            ("Motor Oil", ["Synthetic", "High-Mileage", "5W-30", "0W-20"], 8...60,
             ["full synthetic engine protection", "advanced wear control"],
             ["regular oil changes", "high-mileage engines"]),
            ("Car Phone Mount", ["Magnetic", "Universal", "Vent-Clip", "Dashboard"], 10...60,
             ["a universal fit for phones up to 7 inches", "one-hand mounting"],
             ["road trips and daily driving", "navigation"]),
            ("Dash Cam", ["Dual-Channel", "4K", "Compact", "Night-Vision"], 40...350,
             ["loop recording in 1440p", "a G-sensor that locks crash footage", "parking mode"],
             ["road trips and daily driving", "evidence after an accident"]),
            ("Tire Inflator", ["Portable", "Cordless", "Digital", "Heavy-Duty"], 25...150,
             ["a digital pressure gauge", "automatic shut-off at the set pressure"],
             ["roadside emergencies", "bikes, cars and SUVs"]),
            ("Jump Starter", ["Portable", "Heavy-Duty", "Lithium", "Compact"], 50...250,
             ["a 2000 A peak current", "a built-in LED torch", "USB charging ports"],
             ["roadside emergencies", "cold winter mornings"]),
            ("Seat Covers", ["Universal", "Waterproof", "Leatherette", "Neoprene"], 25...200,
             ["a universal fit for cars, trucks and SUVs", "airbag-compatible side seams"],
             ["families and pets", "keeping your vehicle clean"]),
            ("OBD2 Scanner", ["Bluetooth", "Professional", "Wireless", "Handheld"], 20...300,
             ["live engine data", "fault code reading and clearing"],
             ["diagnosing a check-engine light", "home mechanics"]),
            ("Wiper Blades", ["All-Season", "Beam", "Silicone", "Premium"], 12...50,
             ["streak-free silicone edges", "a universal adapter"],
             ["rain and snow", "road trips and daily driving"]),
            ("Floor Mats", ["All-Weather", "Custom-Fit", "Heavy-Duty", "Rubber"], 25...220,
             ["raised edges that trap mud and snow", "an odourless rubber compound"],
             ["keeping your vehicle clean", "winter driving"]),
        ]),
        CategoryProfile("Pet Supplies", uses: ["dogs and puppies", "indoor cats", "happy healthy pets"], [
            ("Dog Food", ["Grain-Free", "Natural", "Puppy", "High-Protein"], 12...95,
             ["real chicken as the first ingredient", "no artificial colours or flavours"],
             ["dogs and puppies", "happy healthy pets"]),
            ("Cat Litter", ["Clumping", "Unscented", "Natural", "Low-Dust"], 8...40,
             ["odor-locking clumping clay", "99% dust-free granules"],
             ["indoor cats", "multi-cat homes"]),
            ("Dog Leash", ["Reflective", "Retractable", "Durable", "Padded"], 10...45,
             ["reflective stitching for night walks", "a padded handle"],
             ["dogs and puppies", "daily walks"]),
            ("Cat Scratching Post", ["Sisal", "Tall", "Sturdy", "Carpeted"], 20...90,
             ["natural sisal rope", "a weighted, tip-proof base"],
             ["indoor cats", "saving your furniture"]),
            ("Pet Bed", ["Orthopedic", "Washable", "Calming", "Waterproof"], 25...180,
             ["an orthopedic memory-foam cushion", "a removable machine-washable cover"],
             ["senior dogs", "happy healthy pets"]),
            ("Chew Toy", ["Durable", "Natural", "Dental", "Squeaky"], 5...30,
             ["chew-resistant rubber", "ridges that clean teeth"],
             ["dogs and puppies", "heavy chewers"]),
            ("Aquarium Filter", ["Quiet", "Three-Stage", "Adjustable", "Submersible"], 15...150,
             ["three-stage filtration", "an adjustable flow rate"],
             ["freshwater tanks", "healthy fish"]),
            ("Bird Cage", ["Spacious", "Flight", "Rolling", "Wrought-Iron"], 40...300,
             ["a pull-out tray for easy cleaning", "four perches and feeders"],
             ["parakeets and canaries", "happy healthy pets"]),
            ("Cat Tree", ["Multi-Level", "Tall", "Sturdy", "Modern"], 35...250,
             ["sisal-wrapped posts", "a cosy condo and two perches"],
             ["indoor cats", "multi-cat homes"]),
            ("Dog Harness", ["No-Pull", "Reflective", "Padded", "Adjustable"], 15...70,
             ["a front clip that discourages pulling", "reflective stitching for night walks"],
             ["dogs and puppies", "daily walks"]),
        ]),
        CategoryProfile("Garden", uses: ["vegetable gardens and flower beds", "lawn care", "patios and backyards"], [
            ("Garden Hose", ["Expandable", "Kink-Free", "Heavy-Duty", "Lightweight"], 20...120,
             ["an adjustable spray nozzle", "solid brass fittings"],
             ["vegetable gardens and flower beds", "washing cars and patios"]),
            ("Pruning Shears", ["Bypass", "Ratcheting", "Ergonomic", "Professional"], 12...80,
             ["hardened steel blades", "a safety lock"],
             ["roses and shrubs", "vegetable gardens and flower beds"]),
            ("Raised Garden Bed", ["Galvanized", "Cedar", "Modular", "Elevated"], 50...400,
             ["rust-proof galvanized steel", "an open base for deep roots"],
             ["vegetable gardens and flower beds", "patios and backyards"]),
            ("Lawn Mower", ["Cordless", "Self-Propelled", "Electric", "Mulching"], 150...900,
             ["a cordless 40 V battery", "a 46 cm steel deck", "seven cutting heights"],
             ["lawn care", "medium-sized gardens"]),
            ("Plant Pot Set", ["Ceramic", "Self-Watering", "Terracotta", "Glazed"], 15...90,
             ["drainage holes and saucers", "UV-resistant glaze"],
             ["house plants", "patios and backyards"]),
            ("Seed Starter Kit", ["Organic", "Self-Watering", "Beginner's", "Heated"], 15...70,
             ["a humidity dome", "biodegradable peat pots"],
             ["vegetable gardens and flower beds", "early spring sowing"]),
            ("Compost Bin", ["Tumbling", "Dual-Chamber", "Outdoor", "Kitchen"], 25...250,
             ["UV-resistant resin", "air vents for faster composting"],
             ["kitchen scraps and garden waste", "patios and backyards"]),
            ("Watering Can", ["Galvanized", "Long-Spout", "Indoor", "Classic"], 12...60,
             ["a removable brass rose", "a balanced handle"],
             ["house plants", "vegetable gardens and flower beds"]),
            ("Solar Path Lights", ["Weatherproof", "Warm-White", "Auto-On", "Stainless"], 20...120,
             ["dusk-to-dawn automatic lighting", "weatherproof stainless housings"],
             ["patios and backyards", "garden paths and driveways"]),
            ("Leaf Blower", ["Cordless", "Electric", "Backpack", "Lightweight"], 60...450,
             ["a cordless 40 V battery", "variable speed control"],
             ["lawn care", "autumn clean-up"]),
        ]),
        CategoryProfile("Office Supplies", uses: ["home offices and studies", "meetings and note-taking", "organising a tidy desk"], [
            ("Ergonomic Office Chair", ["Mesh", "Adjustable", "High-Back", "Executive"], 120...900,
             ["adjustable lumbar support", "4D armrests", "a breathable mesh back"],
             ["home offices and studies", "long working days"]),
            ("Standing Desk", ["Electric", "Adjustable", "Dual-Motor", "Bamboo"], 200...900,
             ["a height-adjustable frame", "four memory presets", "a quiet dual motor"],
             ["home offices and studies", "sitting less during the day"]),
            ("Notebook", ["Dotted", "Hardcover", "Recycled", "A5"], 5...35,
             ["dotted acid-free paper", "a lay-flat binding", "an elastic closure"],
             ["meetings and note-taking", "journaling"]),
            ("Fountain Pen", ["Refillable", "Classic", "Brass", "Calligraphy"], 15...250,
             ["smooth-writing ink", "a stainless steel nib", "an ink converter"],
             ["journaling and letters", "meetings and note-taking"]),
            ("Desk Organizer", ["Minimalist", "Wooden", "Mesh", "Rotating"], 12...70,
             ["five compartments", "a non-slip base"],
             ["organising a tidy desk", "home offices and studies"]),
            ("Label Printer", ["Bluetooth", "Portable", "Thermal", "Compact"], 30...250,
             ["inkless thermal printing", "labels from a phone app"],
             ["organising a tidy office", "shipping and storage"]),
            ("Paper Shredder", ["Cross-Cut", "Micro-Cut", "Heavy-Duty", "Quiet"], 40...400,
             ["cross-cut security shredding", "a 20 L bin", "anti-jam sensors"],
             ["home offices and studies", "protecting personal documents"]),
            ("Whiteboard", ["Magnetic", "Double-Sided", "Frameless", "Portable"], 20...250,
             ["a ghost-free magnetic surface", "a marker tray"],
             ["meetings and planning", "classrooms"]),
            ("Stapler", ["Heavy-Duty", "Electric", "Compact", "Jam-Free"], 6...60,
             ["a 40-sheet capacity", "a jam-free mechanism"],
             ["organising a tidy desk", "school and office"]),
            ("Monitor Stand", ["Adjustable", "Wooden", "Minimalist", "Dual"], 20...150,
             ["storage space underneath", "a height-adjustable frame"],
             ["organising a tidy desk", "better posture at work"]),
        ]),
        CategoryProfile("Jewelry", uses: ["anniversaries and birthdays", "weddings and formal evenings", "everyday elegance"], [
            ("Sterling Silver Necklace", ["Handcrafted", "Elegant", "Minimalist", "Layered"], 30...350,
             ["hypoallergenic sterling silver", "a secure lobster clasp", "an elegant gift box"],
             ["anniversaries and birthdays", "everyday elegance"]),
            ("Diamond Stud Earrings", ["Classic", "Elegant", "14K Gold", "Platinum"], 200...3500,
             ["conflict-free diamonds", "secure screw-back posts"],
             ["anniversaries and birthdays", "weddings and formal evenings"]),
            ("Gold Bracelet", ["14K", "Handcrafted", "Elegant", "Dainty"], 120...2500,
             ["a 14K solid gold chain", "a secure lobster clasp"],
             ["anniversaries and birthdays", "everyday elegance"]),
            ("Engagement Ring", ["Solitaire", "Vintage-Inspired", "Platinum", "Halo"], 500...6000,
             ["a conflict-free centre stone", "a hand-set pavé band"],
             ["proposals", "weddings and formal evenings"]),
            ("Pearl Pendant", ["Freshwater", "Elegant", "Classic", "Baroque"], 40...600,
             ["a lustrous freshwater pearl", "an 18-inch chain"],
             ["weddings and formal evenings", "anniversaries and birthdays"]),
            ("Charm Bracelet", ["Sterling Silver", "Personalised", "Handcrafted", "Dainty"], 30...300,
             ["hypoallergenic sterling silver", "three interchangeable charms"],
             ["birthdays and graduations", "everyday elegance"]),
            ("Men's Watch", ["Automatic", "Chronograph", "Classic", "Titanium"], 120...3000,
             ["a sapphire crystal", "water resistance to 100 m", "a stainless steel bracelet"],
             ["everyday elegance", "anniversaries and birthdays"]),
            ("Hoop Earrings", ["14K Gold", "Sterling Silver", "Hypoallergenic", "Chunky"], 25...700,
             ["a 14K gold-plated finish", "secure hinged closures"],
             ["everyday elegance", "evenings out"]),
            ("Birthstone Ring", ["Sterling Silver", "Dainty", "Personalised", "Stackable"], 35...500,
             ["a genuine birthstone", "hypoallergenic sterling silver"],
             ["birthdays", "everyday elegance"]),
            ("Cufflinks", ["Sterling Silver", "Engraved", "Classic", "Onyx"], 30...400,
             ["a polished rhodium finish", "an elegant gift box"],
             ["weddings and formal evenings", "gifts for groomsmen"]),
        ]),
        CategoryProfile("Health", uses: ["daily wellness", "recovery after exercise", "monitoring health at home"], [
            ("Multivitamin Tablets", ["Daily", "Vegan", "Sugar-Free", "Complete"], 8...45,
             ["essential vitamins and minerals", "a 90-day supply"],
             ["daily wellness", "busy lifestyles"]),
            ("Digital Thermometer", ["Medical-Grade", "Fast-Reading", "Waterproof", "Flexible-Tip"], 8...50,
             ["clinically tested accuracy", "a reading in 10 seconds"],
             ["monitoring health at home", "families with children"]),
            ("Blood Pressure Monitor", ["Medical-Grade", "Upper-Arm", "Bluetooth", "Wrist"], 30...150,
             ["clinically tested accuracy", "a one-button reading", "memory for two users"],
             ["monitoring health at home", "daily check-ups"]),
            ("Protein Powder", ["Plant-Based", "Vanilla", "Chocolate", "Unflavoured"], 20...80,
             ["24 g of protein per serving", "30 servings per container"],
             ["recovery after exercise", "smoothies and shakes"]),
            ("First Aid Kit", ["Compact", "Travel", "Family", "Waterproof"], 12...90,
             ["120 medical essentials", "a waterproof case"],
             ["home, car and travel", "hiking trips"]),
            ("Fish Oil Capsules", ["Daily", "High-Strength", "Lemon-Flavoured", "Purified"], 10...45,
             ["omega-3 fatty acids", "molecularly distilled fish oil"],
             ["daily wellness", "heart and joint health"]),
            ("Heating Pad", ["Electric", "Extra-Large", "Microwavable", "Cordless"], 15...70,
             ["six heat settings", "automatic shut-off"],
             ["sore muscles", "recovery after exercise"]),
            ("Pulse Oximeter", ["Fingertip", "Medical-Grade", "Bluetooth", "Portable"], 15...90,
             ["clinically tested accuracy", "a bright OLED display"],
             ["monitoring health at home", "athletes and climbers"]),
            ("Massage Gun", ["Rechargeable", "Compact", "Quiet", "Percussion"], 40...450,
             ["five interchangeable heads", "a brushless quiet motor"],
             ["recovery after exercise", "sore muscles"]),
            ("Probiotic Supplement", ["Daily", "Vegan", "Shelf-Stable", "Multi-Strain"], 12...60,
             ["50 billion live cultures", "10 probiotic strains"],
             ["daily wellness", "digestive health"]),
        ]),
    ]

    static var kinds: [ProductKind] { categories.flatMap(\.kinds) }
}

extension CategoryProfile {
    /// A product with a name and a one-to-three sentence description in this kind's words.
    func makeProduct(id: String, random: inout SeededRandom) -> Product {
        let brand = random.pick(CatalogVocabulary.brands)
        let kind = random.pick(kinds)
        let adjective = random.pick(kind.adjectives)
        let name = "\(brand) \(adjective) \(kind.noun)"
        let first = random.below(kind.features.count)
        var sentences = ["The \(adjective.lowercased()) \(kind.noun.lowercased()) from \(brand) features \(kind.features[first])."]
        let extra = random.below(3)
        if extra >= 1 {
            // A second feature, never the first one again.
            let second = kind.features.count > 1 ? (first + 1 + random.below(kind.features.count - 1)) % kind.features.count : first
            let with = second == first ? "" : ", with \(kind.features[second])"
            sentences.append("Designed for \(random.pick(kind.uses))\(with).")
        }
        if extra >= 2 { sentences.append("A favourite in \(self.name.lowercased()).") }
        // Log-uniform within the kind's band: cheap items common, expensive ones rarer.
        let band = kind.priceRange
        let lo = log(band.lowerBound), hi = log(band.upperBound)
        let raw = exp(lo + (hi - lo) * random.unit())
        let price = raw.rounded(.down) + [0.99, 0.49, 0.0, 0.95][random.below(4)]
        return Product(id: id, name: name, description: sentences.joined(separator: " "), category: self.name,
                       price: min(max(price, band.lowerBound), band.upperBound))
    }
}

extension EventGenerator {
    /// Every kind of product the catalog draws from, category by category.
    public static var productKinds: [ProductKind] { CatalogVocabulary.kinds }

    /// The kind a generated product was made from (its category and the noun its name ends with).
    public static func kind(of product: Product) -> ProductKind? {
        CatalogVocabulary.kinds.first { $0.category == product.category && product.name.hasSuffix(" " + $0.noun) }
    }
}

/// A catalog as CSV (`vectorstream generate --catalog-csv`): the header `id,name,description,category,price`, RFC 4180
/// quoting, CRLF line ends; optionally some deliberately bad rows, each of a kind the importer names.
public enum CatalogCSV {
    public static let header = "id,name,description,category,price\r\n"

    /// One field, quoted when it holds a comma, quote or line break (quotes doubled).
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    public static func row(_ p: Product) -> String {
        [p.id, p.name, p.description, p.category, String(p.price)].map(field).joined(separator: ",") + "\r\n"
    }

    /// Bad rows by turn: a missing column, a price that is no number, an empty name, a duplicate id (of `previous`),
    /// with the code the importer gives each. (No unterminated quote: it would swallow the rest of the file.)
    public static func badRow(_ turn: Int, previous: Product) -> (row: String, code: String) {
        switch turn % 4 {
        case 0: return ("bad-\(turn),\(field(previous.name)),missing a column,\(previous.category)\r\n", "ragged_row")
        case 1: return ("bad-\(turn),\(field(previous.name)),bad price,\(previous.category),12;50\r\n", "bad_price")
        case 2: return ("bad-\(turn),,empty name,\(previous.category),1\r\n", "empty_field")
        default: return (row(previous), "duplicate_id")
        }
    }

    /// The whole CSV of `products`, with about `badRowsPercent` % extra bad rows spread through it (deterministic).
    public static func document(_ products: [Product], badRowsPercent: Double = 0) -> String {
        var out = header
        var random = SeededRandom(seed: 0xC5F_5EED)
        var turn = 0
        for product in products {
            out += row(product)
            if badRowsPercent > 0, random.unit() * 100 < badRowsPercent {
                out += badRow(turn, previous: product).row
                turn += 1
            }
        }
        return out
    }
}

import Foundation
import VectorStreamCore

/// What makes a category recognisable: its nouns, adjectives, typical phrases and price range.
struct CategoryProfile: Sendable {
    let name: String
    let nouns: [String]
    let adjectives: [String]
    let features: [String]
    let uses: [String]
    let priceRange: ClosedRange<Double>
}

/// English product texts over fourteen categories, each with its own vocabulary and prices.
enum CatalogVocabulary {
    static let brands = ["Nimbus", "Cobalt", "Aurora", "Summit", "Vertex", "Harbor", "Juniper", "Atlas", "Lumen",
                         "Orchid", "Granite", "Willow", "Pioneer", "Crescent", "Ember", "Solace", "Tundra", "Quill"]

    static let categories: [CategoryProfile] = [
        CategoryProfile(name: "Electronics",
                        nouns: ["Wireless Earbuds", "Bluetooth Speaker", "Smartwatch", "Noise-Cancelling Headphones",
                                "4K Monitor", "USB-C Charger", "Mechanical Keyboard", "Portable SSD", "Webcam", "Tablet"],
                        adjectives: ["Pro", "Ultra", "Compact", "Smart", "Wireless", "HD"],
                        features: ["a 30-hour battery life", "Bluetooth 5.3 connectivity", "fast USB-C charging",
                                   "active noise cancellation", "a high-resolution display", "low-latency audio"],
                        uses: ["streaming music and calls", "work and gaming", "travel and commuting"],
                        priceRange: 19...1299),
        CategoryProfile(name: "Books",
                        nouns: ["Mystery Novel", "Cookbook", "Science Fiction Paperback", "Biography", "Children's Picture Book",
                                "History Hardcover", "Poetry Collection", "Self-Help Guide", "Graphic Novel", "Travel Guide"],
                        adjectives: ["Bestselling", "Illustrated", "Annotated", "Collector's", "Award-Winning", "Classic"],
                        features: ["400 pages of gripping storytelling", "a foreword by the author", "full-colour illustrations",
                                   "chapters that keep readers turning pages", "an index and reading notes"],
                        uses: ["readers who love a good story", "book clubs and quiet evenings", "curious minds of all ages"],
                        priceRange: 6...60),
        CategoryProfile(name: "Clothing",
                        nouns: ["Denim Jacket", "Cotton T-Shirt", "Wool Sweater", "Running Shorts", "Rain Coat",
                                "Linen Shirt", "Hoodie", "Chino Trousers", "Summer Dress", "Knit Beanie"],
                        adjectives: ["Slim-Fit", "Organic", "Relaxed", "Classic", "Breathable", "Vintage"],
                        features: ["soft organic cotton fabric", "a tailored slim fit", "machine-washable material",
                                   "reinforced stitching", "a water-repellent finish"],
                        uses: ["everyday wear", "casual weekends and office days", "layering in cold weather"],
                        priceRange: 12...220),
        CategoryProfile(name: "Home & Kitchen",
                        nouns: ["Chef's Knife", "Non-Stick Frying Pan", "Espresso Machine", "Blender", "Cast Iron Skillet",
                                "Dinnerware Set", "Air Fryer", "Kettle", "Cutting Board", "Food Storage Containers"],
                        adjectives: ["Stainless", "Ceramic", "Professional", "Dishwasher-Safe", "Electric", "Bamboo"],
                        features: ["a stainless steel body", "dishwasher-safe parts", "even heat distribution",
                                   "a non-stick ceramic coating", "precise temperature control"],
                        uses: ["cooking family dinners", "baking and meal prep", "brewing coffee at home"],
                        priceRange: 9...650),
        CategoryProfile(name: "Sports & Outdoors",
                        nouns: ["Camping Tent", "Hiking Backpack", "Yoga Mat", "Mountain Bike Helmet", "Trekking Poles",
                                "Sleeping Bag", "Fishing Rod", "Dumbbell Set", "Trail Running Shoes", "Water Bottle"],
                        adjectives: ["Lightweight", "Waterproof", "Ultralight", "Rugged", "All-Weather", "Insulated"],
                        features: ["a waterproof ripstop shell", "a lightweight aluminium frame", "non-slip grip",
                                   "breathable mesh panels", "a four-season rating"],
                        uses: ["hiking and camping trips", "workouts at the gym", "trail running and climbing"],
                        priceRange: 10...900),
        CategoryProfile(name: "Beauty & Personal Care",
                        nouns: ["Moisturizing Face Cream", "Vitamin C Serum", "Shampoo", "Lipstick", "Sunscreen SPF 50",
                                "Hair Dryer", "Perfume", "Electric Toothbrush", "Facial Cleanser", "Nail Polish Set"],
                        adjectives: ["Hydrating", "Fragrance-Free", "Vegan", "Gentle", "Nourishing", "Radiant"],
                        features: ["hyaluronic acid and vitamin E", "a lightweight non-greasy formula",
                                   "dermatologist-tested ingredients", "a long-lasting matte finish", "natural botanical extracts"],
                        uses: ["daily skincare routines", "sensitive skin", "healthy shiny hair"],
                        priceRange: 5...180),
        CategoryProfile(name: "Toys & Games",
                        nouns: ["Building Blocks Set", "Board Game", "Jigsaw Puzzle", "Remote Control Car", "Plush Teddy Bear",
                                "STEM Robot Kit", "Dollhouse", "Card Game", "Wooden Train Set", "Art and Craft Kit"],
                        adjectives: ["Educational", "Family", "Colorful", "Interactive", "Classic", "Creative"],
                        features: ["hours of imaginative play", "pieces sized for small hands", "rules that kids learn in minutes",
                                   "safe non-toxic materials", "a 1000-piece challenge"],
                        uses: ["kids aged 6 and up", "family game night", "rainy days and classrooms"],
                        priceRange: 8...250),
        CategoryProfile(name: "Grocery",
                        nouns: ["Organic Green Tea", "Dark Chocolate Bar", "Extra Virgin Olive Oil", "Arabica Coffee Beans",
                                "Raw Honey", "Basmati Rice", "Granola", "Pasta Sauce", "Almond Butter", "Sea Salt Crackers"],
                        adjectives: ["Organic", "Single-Origin", "Gluten-Free", "Fair-Trade", "Artisan", "Roasted"],
                        features: ["rich, smooth flavour", "no artificial preservatives", "sustainably sourced ingredients",
                                   "a resealable pantry pack", "20 g of protein per serving"],
                        uses: ["breakfast and snacks", "healthy home cooking", "the pantry"],
                        priceRange: 2...45),
        CategoryProfile(name: "Automotive",
                        nouns: ["Car Phone Mount", "Dash Cam", "Tire Inflator", "Jump Starter", "Car Wax", "Seat Covers",
                                "OBD2 Scanner", "Wiper Blades", "Floor Mats", "Motor Oil"],
                        adjectives: ["Heavy-Duty", "Universal", "All-Season", "Portable", "Premium", "Synthetic"],
                        features: ["a universal fit for cars, trucks and SUVs", "a 2000 A peak current", "loop recording in 1440p",
                                   "a digital pressure gauge", "full synthetic engine protection"],
                        uses: ["road trips and daily driving", "roadside emergencies", "keeping your vehicle clean"],
                        priceRange: 8...400),
        CategoryProfile(name: "Pet Supplies",
                        nouns: ["Dog Food", "Cat Litter", "Dog Leash", "Cat Scratching Post", "Pet Bed", "Chew Toy",
                                "Aquarium Filter", "Bird Cage", "Cat Tree", "Dog Harness"],
                        adjectives: ["Grain-Free", "Durable", "Orthopedic", "Clumping", "Reflective", "Natural"],
                        features: ["real chicken as the first ingredient", "an orthopedic memory-foam cushion",
                                   "odor-locking clumping clay", "chew-resistant rubber", "reflective stitching for night walks"],
                        uses: ["dogs and puppies", "indoor cats", "happy healthy pets"],
                        priceRange: 5...300),
        CategoryProfile(name: "Garden",
                        nouns: ["Garden Hose", "Pruning Shears", "Raised Garden Bed", "Lawn Mower", "Plant Pot Set",
                                "Seed Starter Kit", "Compost Bin", "Watering Can", "Solar Path Lights", "Leaf Blower"],
                        adjectives: ["Expandable", "Cordless", "Weatherproof", "Galvanized", "Self-Watering", "Solar"],
                        features: ["rust-proof galvanized steel", "a cordless 40 V battery", "UV-resistant resin",
                                   "drainage holes and saucers", "an adjustable spray nozzle"],
                        uses: ["vegetable gardens and flower beds", "lawn care", "patios and backyards"],
                        priceRange: 7...700),
        CategoryProfile(name: "Office Supplies",
                        nouns: ["Ergonomic Office Chair", "Standing Desk", "Notebook", "Fountain Pen", "Desk Organizer",
                                "Label Printer", "Paper Shredder", "Whiteboard", "Stapler", "Monitor Stand"],
                        adjectives: ["Ergonomic", "Adjustable", "Refillable", "Minimalist", "Heavy-Duty", "Recycled"],
                        features: ["adjustable lumbar support", "dotted acid-free paper", "a height-adjustable frame",
                                   "smooth-writing ink", "cross-cut security shredding"],
                        uses: ["home offices and studies", "meetings and note-taking", "organising a tidy desk"],
                        priceRange: 3...800),
        CategoryProfile(name: "Jewelry",
                        nouns: ["Sterling Silver Necklace", "Diamond Stud Earrings", "Gold Bracelet", "Engagement Ring",
                                "Pearl Pendant", "Charm Bracelet", "Men's Watch", "Hoop Earrings", "Birthstone Ring", "Cufflinks"],
                        adjectives: ["Handcrafted", "14K Gold", "Sterling Silver", "Elegant", "Vintage-Inspired", "Hypoallergenic"],
                        features: ["a 14K gold-plated finish", "conflict-free stones", "a secure lobster clasp",
                                   "hypoallergenic sterling silver", "an elegant gift box"],
                        uses: ["anniversaries and birthdays", "weddings and formal evenings", "everyday elegance"],
                        priceRange: 20...2500),
        CategoryProfile(name: "Health",
                        nouns: ["Multivitamin Tablets", "Digital Thermometer", "Blood Pressure Monitor", "Protein Powder",
                                "First Aid Kit", "Fish Oil Capsules", "Heating Pad", "Pulse Oximeter", "Massage Gun", "Probiotic Supplement"],
                        adjectives: ["Clinically Tested", "Daily", "Sugar-Free", "Medical-Grade", "Plant-Based", "Rechargeable"],
                        features: ["clinically tested accuracy", "essential vitamins and minerals", "omega-3 fatty acids",
                                   "a one-button reading", "30 servings per container"],
                        uses: ["daily wellness", "recovery after exercise", "monitoring health at home"],
                        priceRange: 6...350),
    ]
}

extension CategoryProfile {
    /// A product with a name and a one-to-three sentence description in this category's words.
    func makeProduct(id: String, random: inout SeededRandom) -> Product {
        let brand = random.pick(CatalogVocabulary.brands)
        let noun = random.pick(nouns)
        let adjective = random.pick(adjectives)
        let name = "\(brand) \(adjective) \(noun)"
        var sentences = ["The \(adjective.lowercased()) \(noun.lowercased()) from \(brand) features \(random.pick(features))."]
        let extra = random.below(3)
        if extra >= 1 { sentences.append("Designed for \(random.pick(uses)), with \(random.pick(features)).") }
        if extra >= 2 { sentences.append("A favourite \(name.split(separator: " ").last!.lowercased()) in \(self.name.lowercased()).") }
        // Log-uniform within the category's range: cheap items common, expensive ones rarer.
        let lo = log(priceRange.lowerBound), hi = log(priceRange.upperBound)
        let raw = exp(lo + (hi - lo) * random.unit())
        let price = (raw.rounded(.down) + [0.99, 0.49, 0.0, 0.95][random.below(4)])
        return Product(id: id, name: name, description: sentences.joined(separator: " "), category: self.name,
                       price: min(max(price, priceRange.lowerBound), priceRange.upperBound))
    }
}

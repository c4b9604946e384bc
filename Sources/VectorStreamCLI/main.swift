print("vectorstream")

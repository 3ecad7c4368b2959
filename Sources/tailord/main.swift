print("tailord")

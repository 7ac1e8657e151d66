print("xlchat")

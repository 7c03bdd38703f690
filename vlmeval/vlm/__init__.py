"""Our own LLaVA-style VLM: ViT encoder -> connector -> decoder LM (imports torch)."""

package com.example.catalog;

public class CatalogApplication {
  public static void main(String[] args) {}
}
